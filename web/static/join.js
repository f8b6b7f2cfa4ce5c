// Attendant join page.
//
// State contract, for people and for headless tests:
//   <body data-state="idle|joining|joined|error">, mirrored in document.title
//   as "Attendant: STATE"; <body data-error="..."> holds the last error
//   message while the state is "error"; <body data-mic="on|off"> tells whether
//   the microphone is published.
// Query parameters: ?name=NAME fills the name field; adding &autojoin=1 joins
// right away.
(() => {
  'use strict';

  const ASSISTANT_IDENTITY = document.body.dataset.assistant || 'assistant';

  const $ = (id) => document.getElementById(id);
  const form = $('join-form');
  const nameInput = $('name');
  const joinButton = $('join');
  const statusLine = $('status');
  const meeting = $('meeting');
  const list = $('participants');
  const leaveButton = $('leave');
  const startAudioButton = $('start-audio');
  const audioBox = $('audio');

  let room = null;
  let leaving = false;

  function setStatus(message, kind) {
    statusLine.textContent = message;
    if (kind) {
      statusLine.dataset.kind = kind;
    } else {
      delete statusLine.dataset.kind;
    }
  }

  function setState(state, message, kind) {
    document.body.dataset.state = state;
    document.title = `Attendant: ${state}`;
    if (state === 'error') {
      document.body.dataset.error = message;
    } else {
      delete document.body.dataset.error;
    }
    const busy = state === 'joining' || state === 'joined';
    nameInput.disabled = busy;
    joinButton.disabled = busy;
    form.hidden = state === 'joined';
    meeting.hidden = state !== 'joined';
    if (message !== undefined) {
      setStatus(message, kind || (state === 'error' ? 'error' : state === 'joined' ? 'ok' : ''));
    }
  }

  function fail(message) {
    setState('error', message);
    nameInput.focus();
  }

  function micMessage(err) {
    if (!window.isSecureContext) {
      return 'The microphone only works on a secure page (https:// or http://localhost). You can still listen.';
    }
    switch (err && err.name) {
      case 'NotAllowedError':
      case 'SecurityError':
        return 'Microphone access was denied. Allow the microphone for this site in the browser settings, then leave and join again. You can still listen.';
      case 'NotFoundError':
      case 'OverconstrainedError':
        return 'No microphone was found. Connect one, then leave and join again. You can still listen.';
      case 'NotReadableError':
      case 'AbortError':
        return 'The microphone could not be opened; another application may be using it. You can still listen.';
      default:
        return `The microphone could not be turned on (${(err && err.message) || err}). You can still listen.`;
    }
  }

  function participantLabel(p) {
    return p.name || p.identity;
  }

  function render() {
    list.replaceChildren();
    if (!room) {
      return;
    }
    const speaking = new Set(room.activeSpeakers.map((p) => p.identity));
    const people = [room.localParticipant, ...room.remoteParticipants.values()];
    for (const p of people) {
      const item = document.createElement('li');
      item.dataset.identity = p.identity;
      const isSpeaking = speaking.has(p.identity);
      item.dataset.speaking = String(isSpeaking);

      const dot = document.createElement('span');
      dot.className = 'dot';
      dot.setAttribute('aria-hidden', 'true');

      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = participantLabel(p);

      // The spaces keep the words apart for screen readers; flex layout
      // drops them visually.
      item.append(dot, name);
      if (p === room.localParticipant) {
        item.append(' ', tag('you'));
      }
      if (p.identity === ASSISTANT_IDENTITY) {
        item.append(' ', tag('assistant'));
      }
      if (!p.isMicrophoneEnabled) {
        item.append(' ', tag('mic off', 'muted'));
      }
      if (isSpeaking) {
        item.append(' ', tag('speaking', 'speaking'));
      }
      list.append(item);
    }
  }

  function tag(text, extraClass) {
    const el = document.createElement('span');
    el.className = extraClass ? `tag ${extraClass}` : 'tag';
    el.textContent = text;
    return el;
  }

  function cleanup() {
    for (const el of audioBox.querySelectorAll('audio')) {
      el.srcObject = null;
      el.remove();
    }
    room = null;
    list.replaceChildren();
    startAudioButton.hidden = true;
    document.body.dataset.mic = 'off';
  }

  async function requestToken(name) {
    let res;
    try {
      res = await fetch('/token', {
        method: 'POST',
        headers: { Accept: 'application/json' },
        body: new URLSearchParams({ name }),
      });
    } catch (err) {
      throw new Error(`Could not reach the Attendant server (${err.message}).`);
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error(body.error ? capitalize(body.error) + '.' : `The server refused the request (HTTP ${res.status}).`);
    }
    return body;
  }

  function capitalize(s) {
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function wire(r) {
    const { RoomEvent, Track } = LivekitClient;
    r.on(RoomEvent.ParticipantConnected, render)
      .on(RoomEvent.ParticipantDisconnected, render)
      .on(RoomEvent.ParticipantNameChanged, render)
      .on(RoomEvent.ActiveSpeakersChanged, render)
      .on(RoomEvent.TrackPublished, render)
      .on(RoomEvent.TrackUnpublished, render)
      .on(RoomEvent.TrackMuted, render)
      .on(RoomEvent.TrackUnmuted, render)
      .on(RoomEvent.LocalTrackPublished, render)
      .on(RoomEvent.LocalTrackUnpublished, render)
      .on(RoomEvent.TrackSubscribed, (track, publication, participant) => {
        if (track.kind !== Track.Kind.Audio) {
          return;
        }
        const el = track.attach();
        el.dataset.participant = participant.identity;
        audioBox.append(el);
      })
      .on(RoomEvent.TrackUnsubscribed, (track) => {
        for (const el of track.detach()) {
          el.remove();
        }
      })
      .on(RoomEvent.AudioPlaybackStatusChanged, () => {
        startAudioButton.hidden = r.canPlaybackAudio;
        if (!r.canPlaybackAudio) {
          setStatus('The browser blocked sound. Press “Turn on sound” to hear the meeting.', 'warning');
        }
      })
      .on(RoomEvent.Reconnecting, () => setStatus('Connection lost. Reconnecting…', 'warning'))
      .on(RoomEvent.Reconnected, () => setStatus('Reconnected.', 'ok'))
      .on(RoomEvent.Disconnected, (reason) => {
        if (room !== r) {
          return;
        }
        cleanup();
        if (leaving) {
          setState('idle', 'You left the meeting. Press Join to come back.', '');
          return;
        }
        const names = LivekitClient.DisconnectReason || {};
        const why = names[reason] !== undefined ? ` (${names[reason]})` : '';
        fail(`You were disconnected from the meeting${why}. Press Join to try again.`);
      });
  }

  async function join(rawName) {
    if (room) {
      return;
    }
    const name = rawName.trim();
    if (!name) {
      fail('Please enter a name.');
      return;
    }
    if (typeof LivekitClient === 'undefined') {
      fail('The LiveKit client library did not load. Run `make deps` on the server and reload the page.');
      return;
    }
    leaving = false;
    setState('joining', `Joining as ${name}…`, '');

    let info;
    try {
      info = await requestToken(name);
    } catch (err) {
      fail(err.message);
      return;
    }

    const r = new LivekitClient.Room();
    room = r;
    wire(r);
    try {
      await r.connect(info.url, info.token);
    } catch (err) {
      if (room === r) {
        cleanup();
      }
      fail(`Could not connect to the meeting server at ${info.url} (${err.message}).`);
      return;
    }
    if (room !== r) {
      return; // left while connecting
    }
    startAudioButton.hidden = r.canPlaybackAudio;
    render();

    let micProblem = '';
    try {
      await r.localParticipant.setMicrophoneEnabled(true);
      document.body.dataset.mic = 'on';
    } catch (err) {
      document.body.dataset.mic = 'off';
      micProblem = micMessage(err);
    }
    if (room !== r) {
      return;
    }
    if (micProblem) {
      setState('joined', `Joined as ${name}, but without microphone. ${micProblem}`, 'warning');
    } else {
      setState('joined', `Joined as ${name}. Your microphone is on.`);
    }
    render();
    leaveButton.focus();
  }

  async function leave() {
    const r = room;
    if (!r) {
      return;
    }
    leaving = true;
    leaveButton.disabled = true;
    try {
      await r.disconnect();
    } finally {
      leaveButton.disabled = false;
      if (room === r) {
        cleanup();
        setState('idle', 'You left the meeting. Press Join to come back.', '');
      }
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    join(nameInput.value);
  });
  leaveButton.addEventListener('click', leave);
  startAudioButton.addEventListener('click', async () => {
    if (!room) {
      return;
    }
    try {
      await room.startAudio();
      startAudioButton.hidden = room.canPlaybackAudio;
      setStatus('Sound is on.', 'ok');
    } catch (err) {
      setStatus(`Sound could not be turned on (${err.message}).`, 'warning');
    }
  });
  window.addEventListener('pagehide', () => {
    if (room) {
      leaving = true;
      room.disconnect();
    }
  });

  setState('idle');
  const params = new URLSearchParams(window.location.search);
  const presetName = params.get('name');
  if (presetName) {
    nameInput.value = presetName;
  }
  if (params.get('autojoin') === '1') {
    join(nameInput.value);
  }
})();

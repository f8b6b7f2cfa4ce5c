// Attendant join page.
//
// State contract, for people and for headless tests:
//   <body data-state="idle|joining|joined|error">, mirrored in document.title
//   as "Attendant: STATE"; <body data-error="..."> holds the last error
//   message while the state is "error"; <body data-mic="on|off"> tells whether
//   the microphone is published; <body data-identity="..."> holds the page's
//   own participant identity while joined.
// Transcript: <ol id="transcript"> holds one <li> per caption segment, oldest
//   first, with data-segment (the segment id), data-speaker (the identity of
//   who spoke or wrote), data-final ("true" once the words are final) and
//   data-role ("self", "assistant" or "other"); chat messages also carry
//   data-chat="true". The words are in the entry's .text element.
// Chat: <form id="chat-form"> sends its input on the "lk.chat" text stream
//   topic; it is enabled only while joined.
// Query parameters: ?name=NAME fills the name field; adding &autojoin=1 joins
// right away.
(() => {
  'use strict';

  const ASSISTANT_IDENTITY = document.body.dataset.assistant || 'assistant';
  // Text stream topics and attributes the worker uses (worker/captions.go,
  // worker/chat.go).
  const TRANSCRIPTION_TOPIC = 'lk.transcription';
  const CHAT_TOPIC = 'lk.chat';
  const ATTR_FINAL = 'lk.transcription_final';
  const ATTR_SEGMENT = 'lk.segment_id';
  const ATTR_SPEAKER = 'attendant.speaker';
  // The transcript keeps this many entries; older ones are dropped.
  const MAX_ENTRIES = 200;

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
  const transcript = $('transcript');
  const chatForm = $('chat-form');
  const chatInput = $('chat-input');
  const chatButton = $('chat-send');
  const maxChat = chatInput.maxLength > 0 ? chatInput.maxLength : 2000;

  let room = null;
  let leaving = false;
  let sending = false;
  // Transcript entries by sender and segment id, oldest first.
  const entries = new Map();

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
    chatInput.disabled = state !== 'joined';
    chatButton.disabled = state !== 'joined';
    if (state === 'joined' && room) {
      document.body.dataset.identity = room.localParticipant.identity;
    } else {
      delete document.body.dataset.identity;
    }
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

  // displayName returns the name of the participant with this identity, local
  // or remote, falling back to the identity itself.
  function displayName(identity) {
    if (room) {
      const p = identity === room.localParticipant.identity
        ? room.localParticipant
        : room.getParticipantByIdentity(identity);
      if (p) {
        return participantLabel(p);
      }
    }
    return identity;
  }

  function roleOf(identity) {
    if (room && identity === room.localParticipant.identity) {
      return 'self';
    }
    if (identity === ASSISTANT_IDENTITY) {
      return 'assistant';
    }
    const p = room && room.getParticipantByIdentity(identity);
    return p && p.isAgent ? 'assistant' : 'other';
  }

  // showEntry adds the words of segment, sent by sender, to the transcript,
  // or updates the entry already there. A final entry is not changed by a
  // later interim one: captions travel as separate streams and may arrive out
  // of order.
  function showEntry({ sender, segment, speaker, text, final, chat }) {
    // Follow the newest entry only if the reader is already at the bottom.
    const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 24;
    // Keyed by sender too, so that nobody can overwrite another's entries.
    const key = entryKey(sender, segment);
    let item = entries.get(key);
    if (item && item.dataset.final === 'true' && !final) {
      return;
    }
    if (!item) {
      item = document.createElement('li');
      item.dataset.segment = segment;
      item.dataset.speaker = speaker;
      item.dataset.role = roleOf(speaker);
      if (chat) {
        item.dataset.chat = 'true';
      }
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = displayName(speaker);
      const words = document.createElement('span');
      words.className = 'text';
      // The space keeps name and words apart for screen readers.
      item.append(who, ' ', words);
      entries.set(key, item);
      transcript.append(item);
      while (entries.size > MAX_ENTRIES) {
        const [oldest, el] = entries.entries().next().value;
        entries.delete(oldest);
        el.remove();
      }
    }
    item.querySelector('.text').textContent = text;
    item.dataset.final = String(final);
    // Interim words keep changing; screen readers wait for the final ones.
    item.setAttribute('aria-busy', String(!final));
    if (atBottom) {
      transcript.scrollTop = transcript.scrollHeight;
    }
  }

  function entryKey(sender, segment) {
    return `${sender}\n${segment}`;
  }

  function dropEntry(sender, segment) {
    const key = entryKey(sender, segment);
    const item = entries.get(key);
    if (item) {
      entries.delete(key);
      item.remove();
    }
  }

  function clearTranscript() {
    entries.clear();
    transcript.replaceChildren();
  }

  // onCaption shows a caption. The assistant captions everyone's words and
  // says whose they are; a caption from anyone else is taken as their own.
  async function onCaption(r, reader, from) {
    const text = await reader.readAll();
    const attrs = reader.info.attributes || {};
    if (room !== r) {
      return;
    }
    const segment = attrs[ATTR_SEGMENT] || reader.info.id;
    const final = attrs[ATTR_FINAL] !== 'false';
    if (!text.trim()) {
      // An answer cut off before any of it was heard ends with empty words.
      if (final) {
        dropEntry(from.identity, segment);
      }
      return;
    }
    const trusted = from.identity === ASSISTANT_IDENTITY;
    showEntry({
      sender: from.identity,
      segment,
      speaker: (trusted && attrs[ATTR_SPEAKER]) || from.identity,
      text,
      final,
      chat: false,
    });
  }

  // onChat shows a chat message of another participant.
  async function onChat(r, reader, from) {
    const text = await reader.readAll();
    if (room !== r || !text.trim()) {
      return;
    }
    showEntry({
      sender: from.identity, segment: `chat-${reader.info.id}`, speaker: from.identity,
      text, final: true, chat: true,
    });
  }

  // handleStream returns a text stream handler for room r, which ignores
  // streams of a room the page has left and reports failures on the console
  // only: a lost caption must not break the page.
  function handleStream(r, handler) {
    return (reader, from) => {
      if (room !== r) {
        return;
      }
      handler(r, reader, from).catch((err) => console.warn('text stream', reader.info.topic, err));
    };
  }

  async function sendChat() {
    const r = room;
    const text = chatInput.value.trim();
    if (!r || sending || !text) {
      return;
    }
    if ([...text].length > maxChat) {
      setStatus(`Messages are limited to ${maxChat} characters.`, 'warning');
      return;
    }
    sending = true;
    chatButton.disabled = true;
    try {
      const info = await r.localParticipant.sendText(text, { topic: CHAT_TOPIC });
      if (room !== r) {
        return;
      }
      const self = r.localParticipant.identity;
      showEntry({ sender: self, segment: `chat-${info.id}`, speaker: self, text, final: true, chat: true });
      if (chatInput.value.trim() === text) {
        chatInput.value = '';
      }
    } catch (err) {
      setStatus(`Your message could not be sent (${err.message}).`, 'warning');
    } finally {
      sending = false;
      chatButton.disabled = room === null || document.body.dataset.state !== 'joined';
    }
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
    r.registerTextStreamHandler(TRANSCRIPTION_TOPIC, handleStream(r, onCaption));
    r.registerTextStreamHandler(CHAT_TOPIC, handleStream(r, onChat));
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
    clearTranscript();
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
  chatForm.addEventListener('submit', (event) => {
    event.preventDefault();
    sendChat();
  });
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

// Attendant join pages: the development page (a name) and the invitation page
// (/join/{token}: the invitation's password).
//
// Where the token comes from: <form id="join-form" data-source="...">.
//   "name" (the development page) posts the name field to /token.
//   "password" (the invitation page) posts the password field to the page's own
//     URL, asking for JSON: {url, token, room, identity, name}, or {error, code}
//     with the HTTP status of the problem.
//   "grant" takes the token the server put in <div id="grant" data-livekit
//     data-token data-room data-identity data-name> (the answer to a plain form
//     post) and joins at once.
//   An invitation's link works once: after its password is accepted the page
//   keeps the token and joins again with it.
//
// State contract, for people and for headless tests:
//   <body data-ready="true"> once this script has wired the page (the markup
//   already says data-state="idle" before it runs);
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
// Assistant: <p id="assistant-state" data-state="absent|listening|speaking">.
// Microphone: <button id="mic"> turns it off and on again.
// Query parameters (name source only): ?name=NAME fills the name field; adding
// &autojoin=1 joins right away.
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

  // Problems after which an invitation's link cannot work again (the server's
  // codes): unknown or expired, used, withdrawn, locked, meeting ended.
  const DEAD_LINK = new Set(['not_found', 'used', 'withdrawn', 'locked', 'ended']);

  const $ = (id) => document.getElementById(id);
  const form = $('join-form');
  if (!form) {
    return; // a page without a meeting to join
  }
  const source = form.dataset.source || 'name';
  // The name or the password; none when the page holds a token.
  const field = form.querySelector('input');
  const fieldLabel = field && form.querySelector(`label[for="${field.id}"]`);
  const joinButton = $('join');
  const micButton = $('mic');
  const assistantState = $('assistant-state');
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
  // The token the page holds: put in the page by the server, or received for
  // the invitation's password. The development page asks for a new one each time.
  let grant = readGrant();
  // The invitation's link no longer works and the page holds no token.
  let dead = false;
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
    if (field) {
      field.disabled = busy;
    }
    joinButton.disabled = busy || dead;
    form.hidden = state === 'joined' || dead;
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
    if (field && !field.hidden && !dead) {
      field.focus();
    }
  }

  function readGrant() {
    const el = $('grant');
    if (!el || !el.dataset.token) {
      return null;
    }
    const d = el.dataset;
    return { url: d.livekit, token: d.token, room: d.room, identity: d.identity, name: d.name };
  }

  // keepGrant keeps an invitation's token to join again with, and turns the form
  // into a plain "Join again" button.
  function keepGrant(info) {
    grant = info;
    if (field) {
      field.value = '';
      field.hidden = true;
      field.required = false;
      if (fieldLabel) {
        fieldLabel.hidden = true;
      }
    }
    for (const el of form.querySelectorAll('.hint')) {
      el.hidden = true;
    }
    joinButton.textContent = 'Join again';
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

  function setMic(on) {
    document.body.dataset.mic = on ? 'on' : 'off';
    if (micButton) {
      micButton.textContent = on ? 'Mute microphone' : 'Turn on microphone';
    }
  }

  // The SFU does not always name the assistant among the active speakers (its
  // track may carry no audio levels), so the assistant also counts as speaking
  // while one of its answers is captioned but not yet final: it sends the words of
  // each sentence as it speaks them, and the final caption when it has finished.
  const assistantSpeech = new Map(); // segment → timer that forgets it
  function noteAssistantSpeech(segment, final) {
    clearTimeout(assistantSpeech.get(segment));
    if (final) {
      assistantSpeech.delete(segment);
    } else {
      // A final caption lost on the way must not leave it speaking for good.
      assistantSpeech.set(segment, setTimeout(() => { assistantSpeech.delete(segment); render(); }, 30000));
    }
    render();
  }

  // showAssistant says whether the assistant is in the room and speaking.
  function showAssistant(speaking) {
    if (!assistantState) {
      return;
    }
    let assistant = null;
    if (room) {
      assistant = room.getParticipantByIdentity(ASSISTANT_IDENTITY) ||
        [...room.remoteParticipants.values()].find((p) => p.isAgent) || null;
    }
    let state = 'absent';
    if (assistant) {
      state = speaking.has(assistant.identity) || assistantSpeech.size > 0 ? 'speaking' : 'listening';
    }
    assistantState.dataset.state = state;
    assistantState.textContent = {
      absent: 'The assistant has not joined yet.',
      listening: 'The assistant is listening.',
      speaking: 'The assistant is speaking…',
    }[state];
  }

  function render() {
    list.replaceChildren();
    if (!room) {
      showAssistant(new Set());
      return;
    }
    const speaking = new Set(room.activeSpeakers.map((p) => p.identity));
    showAssistant(speaking);
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
    if (trusted && (attrs[ATTR_SPEAKER] || from.identity) === ASSISTANT_IDENTITY) {
      noteAssistantSpeech(segment, final);
    }
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
    for (const timer of assistantSpeech.values()) {
      clearTimeout(timer);
    }
    assistantSpeech.clear();
    render();
    startAudioButton.hidden = true;
    setMic(false);
  }

  async function postForm(url, fields) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { Accept: 'application/json' },
        body: new URLSearchParams(fields),
      });
      const body = await res.json().catch(() => ({}));
      return { res, body };
    } catch (err) {
      throw new Error(`Could not reach the Attendant server (${err.message}).`);
    }
  }

  // tokenForName asks the development server for a token (POST /token).
  async function tokenForName(name) {
    const { res, body } = await postForm('/token', { name });
    if (!res.ok) {
      throw new Error(body.error ? capitalize(body.error) + '.' : `The server refused the request (HTTP ${res.status}).`);
    }
    return body;
  }

  // tokenForPassword sends the invitation's password to the page's own URL.
  async function tokenForPassword(password) {
    const { res, body } = await postForm(window.location.pathname, { password });
    if (res.ok) {
      return body;
    }
    field.value = '';
    if (DEAD_LINK.has(body.code)) {
      dead = true;
    }
    throw new Error(body.error || `The server refused the request (HTTP ${res.status}).`);
  }

  // obtainGrant returns the token to join with: the one the page holds, or a new
  // one for what the person typed. It returns null after reporting a problem.
  async function obtainGrant() {
    if (grant) {
      setState('joining', `Joining as ${grant.name || grant.identity}…`, '');
      return grant;
    }
    const value = field ? field.value.trim() : '';
    if (source === 'name') {
      if (!value) {
        fail('Please enter a name.');
        return null;
      }
      setState('joining', `Joining as ${value}…`, '');
      const info = await tokenForName(value);
      return { ...info, name: info.name || value };
    }
    const password = value.replace(/[\s-]+/g, '');
    if (!/^[0-9]{8}$/.test(password)) {
      fail('The password is the 8 digits you received with your invitation.');
      return null;
    }
    setState('joining', 'Checking the password…', '');
    const info = await tokenForPassword(password);
    keepGrant(info);
    return info;
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
          setState('idle', `You left the meeting. ${comeBack()}`, '');
          return;
        }
        const names = LivekitClient.DisconnectReason || {};
        const why = names[reason] !== undefined ? ` (${names[reason]})` : '';
        fail(`You were disconnected from the meeting${why}. ${comeBack()}`);
      });
  }

  async function join() {
    if (room || document.body.dataset.state === 'joining') {
      return;
    }
    if (typeof LivekitClient === 'undefined') {
      fail('The LiveKit client library did not load. Run `make deps` on the server and reload the page.');
      return;
    }
    leaving = false;
    let info;
    try {
      info = await obtainGrant();
    } catch (err) {
      fail(err.message);
      return;
    }
    if (!info) {
      return;
    }
    const name = info.name || info.identity;

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
      setMic(true);
    } catch (err) {
      setMic(false);
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
        setState('idle', `You left the meeting. ${comeBack()}`, '');
      }
    }
  }

  function comeBack() {
    return grant ? 'Press “Join again” to come back.' : 'Press Join to come back.';
  }

  async function toggleMic() {
    const r = room;
    if (!r) {
      return;
    }
    const on = document.body.dataset.mic !== 'on';
    micButton.disabled = true;
    try {
      await r.localParticipant.setMicrophoneEnabled(on);
      setMic(on);
      setStatus(on ? 'Your microphone is on.' : 'Your microphone is off: the others cannot hear you.', on ? 'ok' : '');
    } catch (err) {
      setMic(false);
      setStatus(micMessage(err), 'warning');
    } finally {
      micButton.disabled = false;
      render();
    }
  }

  // localTimes shows <time data-local> in the reader's own time zone and language.
  function localTimes() {
    for (const el of document.querySelectorAll('time[data-local]')) {
      const when = new Date(el.dateTime);
      if (!Number.isNaN(when.getTime())) {
        el.textContent = when.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' });
      }
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    join();
  });
  leaveButton.addEventListener('click', leave);
  if (micButton) {
    micButton.addEventListener('click', toggleMic);
  }
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

  localTimes();
  setState('idle');
  document.body.dataset.ready = 'true';
  if (source === 'grant' && grant) {
    join();
  } else if (source === 'name') {
    const params = new URLSearchParams(window.location.search);
    const presetName = params.get('name');
    if (presetName) {
      field.value = presetName;
    }
    if (params.get('autojoin') === '1') {
      join();
    }
  }
})();

// End to end through the control plane, driven by Playwright in Debian's Chromium:
// an admin signs in, creates an entity and a department with instructions, uploads
// a document, schedules a room and invites a participant; the participant opens the
// link, enters the password and joins with a fake microphone asking a question the
// document answers, and the page shows the assistant speaking and its captions.
//
// Run by internal/cli's TestControlPlaneEndToEnd, which starts `attendant dev` and
// checks what this prints: one JSON object on stdout. Environment:
//   BASE        the control plane's URL (http://127.0.0.1:PORT)
//   EMAIL, PASSWORD  the first platform admin's
//   DOC         the document to upload; QUESTION_WAV the fake microphone's audio
//   SHOTS       a folder for screenshots of the main pages
//   CHROMIUM    the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
};
const BASE = env('BASE');
const SHOTS = env('SHOTS');
const steps = [];
const step = (what) => {
  steps.push({ what, at: Date.now() });
  process.stderr.write(`e2e: ${what}\n`);
};

const flags = (wav) => [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required',
  ...(wav ? [`--use-file-for-fake-audio-capture=${wav}`] : []),
];

async function launch(wav) {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: flags(wav) });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

// admin does the admin's part and returns the invitation's link and password.
async function admin(browser, entity) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  step('sign in');
  await page.goto(`${BASE}/admin/login`);
  await shot(page, 'admin-sign-in.png');
  await page.fill('#login-email', env('EMAIL'));
  await page.fill('#login-password', env('PASSWORD'));
  await Promise.all([page.waitForURL(`${BASE}/admin/`), page.click('form[action="/admin/login"] button[type=submit]')]);

  step('create an entity');
  await page.fill('#new-id', entity);
  await page.fill('#new-name', 'Harbour Clinic');
  await page.fill('#new-instructions', 'You are the assistant of the Harbour Clinic. Answer from its documents.');
  await Promise.all([page.waitForURL(`${BASE}/admin/entities/${entity}`), page.click('text=Create entity')]);

  step('name the assistant');
  await page.fill('#ent-assistant_name', 'Harbour Helper');
  await page.click('text=Save settings');
  await page.waitForSelector('form .saved');

  step('create a department');
  await page.fill('#dept-id', 'reception');
  await page.fill('#dept-name', 'Reception');
  await page.fill('#dept-instructions', 'Help visitors find their way.');
  await page.click('text=Add department');
  await page.waitForSelector(`a[href="/admin/entities/${entity}/departments/reception"]`);

  step('upload a document');
  await page.goto(`${BASE}/admin/entities/${entity}/documents`);
  await page.setInputFiles('#up-file', env('DOC'));
  await page.click('#upload button[type=submit]');
  await page.waitForSelector('#job:has-text("ready (")', { timeout: 60000 });
  await page.fill('#search-q', 'Where do visitors park?');
  await page.click('text=Search');
  await page.waitForSelector('#search .hits li');
  const retrieved = await page.textContent('#search');
  await shot(page, 'admin-documents.png');

  step('schedule a room');
  await page.goto(`${BASE}/admin/entities/${entity}`);
  const at = new Date(Date.now() + 2 * 60 * 1000).toISOString().slice(0, 16);
  await page.fill('#room-title', 'Visitor questions');
  await page.fill('#room-at', at);
  await page.fill('#room-duration', '30');
  await page.selectOption('#room-department', 'reception');
  await page.fill('#room-topic', 'parking and opening hours');
  await Promise.all([page.waitForURL(/\/admin\/rooms\//), page.click('text=Schedule room')]);

  step('invite a participant');
  await page.fill('#inv-name', 'Dana');
  // A field is checked when it loses focus, before the form is sent.
  await page.fill('#inv-email', 'dana at example');
  await page.press('#inv-email', 'Tab');
  await page.waitForSelector('#e-inv-email:has-text("is not an email address")');
  const blurError = (await page.textContent('#e-inv-email')).trim();
  await page.fill('#inv-email', 'dana@example.org');
  await page.press('#inv-email', 'Tab');
  await page.waitForFunction(() => document.getElementById('e-inv-email').textContent.trim() === '');
  await page.click('text=Create invitation');
  await page.waitForSelector('.secret code.password');
  const link = (await page.textContent('.secret code.link')).trim();
  const password = (await page.textContent('.secret code.password')).trim();
  await shot(page, 'admin-room.png');
  const roomURL = page.url();
  await page.goto(`${BASE}/admin/entities/${entity}`);
  await shot(page, 'admin-entity.png');
  await page.close();
  return { link, password, retrieved, roomURL, blurError };
}

// participant joins by the link and waits for the assistant's answer.
async function participant(browser, link, password) {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  step('open the link');
  await page.goto(link);
  await shot(page, 'join-password.png');
  // Record every state the assistant's indicator takes.
  await page.evaluate(() => {
    window.__assistantStates = [];
    const el = document.getElementById('assistant-state');
    const note = () => window.__assistantStates.push(el.dataset.state);
    new MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
  step('enter the password');
  await page.fill('#password', password);
  await page.click('#join');
  await page.waitForFunction(() => document.body.dataset.state === 'joined', null, { timeout: 30000 });
  step('wait for the answer');
  const answer = await page.waitForFunction(() => {
    const items = Array.from(document.querySelectorAll('#transcript > li'));
    const a = items.find((li) => li.dataset.speaker === 'assistant' && li.dataset.role === 'assistant'
      && li.dataset.final === 'true' && !li.dataset.chat && /park|garage/i.test(li.textContent));
    return a ? a.querySelector('.text').textContent : null;
  }, null, { timeout: 90000, polling: 250 }).then((h) => h.jsonValue());
  const transcript = await page.evaluate(() => Array.from(document.querySelectorAll('#transcript > li'), (li) => ({
    speaker: li.dataset.speaker, role: li.dataset.role, final: li.dataset.final === 'true', text: li.querySelector('.text').textContent,
  })));
  // The assistant's voice track plays in an audio element of the page.
  const audio = await page.evaluate(() => Array.from(document.querySelectorAll('#audio audio'), (a) => ({
    participant: a.dataset.participant, playing: !a.paused, time: a.currentTime,
  })));
  const states = await page.evaluate(() => window.__assistantStates);
  const people = await page.evaluate(() => Array.from(document.querySelectorAll('#participants > li'), (li) => li.textContent.trim()));
  await shot(page, 'meeting.png');
  await page.close();
  return { answer, transcript, audio, states, people };
}

const out = {};
let adminBrowser;
let guestBrowser;
try {
  adminBrowser = await launch();
  Object.assign(out, await admin(adminBrowser, 'harbour'));
  guestBrowser = await launch(env('QUESTION_WAV'));
  Object.assign(out, await participant(guestBrowser, out.link, out.password));
} catch (err) {
  out.error = `${err.message} (after: ${steps.map((s) => s.what).join(' → ')})`;
} finally {
  await adminBrowser?.close();
  await guestBrowser?.close();
}
out.steps = steps;
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.error ? 1 : 0);

// Attendant admin pages: htmx sends the session's CSRF token with every request it
// makes (forms also carry it as a field, so they work without JavaScript).
(function () {
  'use strict';
  document.addEventListener('htmx:configRequest', (event) => {
    const token = document.body.dataset.csrf;
    if (token) {
      event.detail.headers['X-CSRF-Token'] = token;
    }
  });
})();

// Uploads show their progress while the file is sent.
document.addEventListener('htmx:xhr:progress', (event) => {
  const form = event.target.closest && event.target.closest('form');
  const bar = form && form.querySelector('progress.upload-progress');
  if (bar && event.detail.lengthComputable) {
    bar.hidden = false;
    bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
  }
});

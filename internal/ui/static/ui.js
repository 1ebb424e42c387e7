// errand's dashboard script: a running task's page follows the task's
// event stream and redraws its parts; Redeliver posts without leaving the
// page and shows the new attempt when it is recorded. Without it every
// page still works (forms post and redirect).
(() => {
  'use strict';
  const task = document.getElementById('task');
  if (!task) return;
  const base = task.dataset.base;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  // redraw replaces the part with id name by the server's rendering of it.
  async function redraw(name) {
    const res = await fetch(base + '/parts/' + name, { headers: { 'X-Requested-With': 'fetch' }, credentials: 'same-origin' });
    if (!res.ok) return null;
    const tpl = document.createElement('template');
    tpl.innerHTML = (await res.text()).trim();
    const fresh = tpl.content.firstElementChild;
    const old = document.getElementById(name);
    if (fresh && old) old.replaceWith(fresh);
    return fresh;
  }

  // One redraw of a part at a time; a burst of events is one more.
  const busy = {};
  function schedule(name) {
    if (busy[name]) { busy[name] = 'again'; return; }
    busy[name] = true;
    redraw(name).catch(() => {}).finally(() => {
      const again = busy[name] === 'again';
      busy[name] = false;
      if (again) schedule(name);
    });
  }

  if (task.dataset.live === 'true' && 'EventSource' in window) {
    const es = new EventSource(base + '/events');
    es.addEventListener('status', () => schedule('summary'));
    es.addEventListener('step', () => schedule('steps'));
    es.addEventListener('result', () => {
      es.close();
      ['summary', 'answer', 'steps', 'deliveries'].forEach(schedule);
    });
  }

  const status = document.getElementById('redeliver-status');
  const say = (text) => { if (status) status.textContent = text; };
  const attempts = () => Number((document.getElementById('deliveries') || {}).dataset?.attempts || 0);

  // Redeliver: post, then redraw the deliveries until the new attempt shows.
  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.id !== 'redeliver-form') return;
    ev.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    const before = attempts();
    say('Redelivery queued…');
    try {
      const res = await fetch(form.action, { method: 'POST', headers: { 'X-CSRF-Token': csrf, 'X-Requested-With': 'fetch' }, credentials: 'same-origin' });
      if (!res.ok) {
        say('Redelivery refused (' + res.status + ').');
        return;
      }
      const deadline = Date.now() + 60000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 400));
        const fresh = await redraw('deliveries');
        if (fresh && Number(fresh.dataset.attempts) > before) {
          say('The new attempt is recorded below.');
          return;
        }
      }
      say('Redelivery queued; no attempt recorded yet. Reload later to see it.');
    } catch (e) {
      say('Redelivery failed: the server could not be reached.');
    } finally {
      const b = document.querySelector('#redeliver-form button');
      if (b) b.disabled = false;
    }
  });
})();

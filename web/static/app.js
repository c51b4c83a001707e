// The Combine: progressive enhancement only. Every page works without
// this file; it adds live progress on the execution page (the event
// stream), row add/remove in the document editor, a copy button and a
// confirmation before cancelling. No inline script anywhere (CSP).
(function () {
  'use strict';

  // Confirmation for destructive forms.
  document.addEventListener('submit', function (ev) {
    var f = ev.target;
    if (f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) ev.preventDefault();
  });

  // Remember which forms someone has typed in, so live updates keep them.
  document.addEventListener('input', function (ev) {
    var f = ev.target.form;
    if (f) f.dataset.dirty = '1';
  });

  // Document editor: add and remove rows in the browser. The buttons are
  // submit buttons the server also understands (no script: a round trip).
  document.addEventListener('click', function (ev) {
    var btn = ev.target.closest && ev.target.closest('button[data-add], button[data-remove]');
    if (!btn) return;
    ev.preventDefault();
    var form = btn.form;
    if (form) form.dataset.dirty = '1';
    if (btn.hasAttribute('data-add')) {
      var arr = btn.closest('[data-array]');
      var tpl = arr.querySelector(':scope > template');
      var rows = arr.querySelector(':scope > .rows');
      var idx = parseInt(arr.dataset.next, 10) || 0;
      arr.dataset.next = String(idx + 1);
      var ph = arr.dataset.placeholder; // __iN__
      var nph = ph.replace('__i', '__n');
      var html = tpl.innerHTML.split(ph).join(String(idx)).split(nph).join(String(rows.children.length + 1));
      var box = document.createElement('div');
      box.innerHTML = html;
      var row = box.firstElementChild;
      rows.appendChild(row);
      var first = row.querySelector('input:not([type=hidden]), select, textarea');
      if (first) first.focus();
    } else {
      var r = btn.closest('[data-row]');
      var owner = r.parentElement.closest('[data-array]');
      r.remove();
      var add = owner && owner.querySelector(':scope > button[data-add]');
      if (add) add.focus();
    }
  });

  // Copy button for a token shown once.
  document.querySelectorAll('button[data-copy]').forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener('click', function () {
      var input = document.getElementById(btn.dataset.copy);
      var note = document.getElementById('copy-note');
      var done = function () { if (note) note.textContent = 'Copied to the clipboard.'; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
      } else {
        input.select();
        try { if (document.execCommand('copy')) done(); } catch (e) { /* selected: copy by hand */ }
      }
    });
  });

  // Live progress: follow the execution's event stream and refresh the
  // page's regions in place, keeping any form someone is filling in.
  var exec = document.getElementById('exec');
  if (!exec || !exec.hasAttribute('data-live') || !window.EventSource || !window.fetch) return;
  var id = exec.dataset.execution;
  var types = ['execution_started', 'step_started', 'clarification_needed', 'input_needed', 'acceptance_needed',
    'document_produced', 'step_completed', 'step_failed', 'execution_completed', 'execution_failed',
    'execution_cancelled', 'execution_retried'];
  var terminal = { execution_completed: 1, execution_failed: 1, execution_cancelled: 1 };
  var es = new EventSource('/api/v1/executions/' + encodeURIComponent(id) + '/events?after=' + encodeURIComponent(exec.dataset.after || '0'));
  var timer = null, busy = false, again = false;
  types.forEach(function (t) {
    es.addEventListener(t, function () {
      if (terminal[t]) es.close();
      schedule();
    });
  });

  function schedule() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.pathname + location.search, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { if (!r.ok) throw new Error('status ' + r.status); return r.text(); })
      .then(apply)
      .catch(function () { /* the next event tries again */ })
      .then(function () { busy = false; if (again) { again = false; schedule(); } });
  }

  function apply(html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    var next = doc.getElementById('exec');
    if (!next) return;
    document.querySelectorAll('#exec [data-region]').forEach(function (el) {
      var repl = doc.getElementById(el.id);
      if (repl) el.replaceWith(document.importNode(repl, true));
    });
    mergeWork(doc.getElementById('work'));
    exec.dataset.after = next.dataset.after;
    if (!next.hasAttribute('data-live')) { exec.removeAttribute('data-live'); es.close(); }
    var note = document.getElementById('live-note');
    var latest = doc.querySelector('#activity li');
    if (note && latest) note.textContent = 'Updated: ' + latest.textContent.replace(/\s+/g, ' ').trim();
  }

  // mergeWork updates the open work items: new ones appear, finished ones
  // go — unless someone is typing in them, then they stay, marked closed.
  function mergeWork(nextWork) {
    var work = document.getElementById('work');
    if (!work || !nextWork) return;
    var keep = {};
    work.querySelectorAll(':scope > .work-item').forEach(function (el) { keep[el.id] = el; });
    var out = [];
    Array.prototype.forEach.call(nextWork.children, function (el) {
      if (el.tagName === 'H2') return;
      var cur = el.id && keep[el.id];
      if (cur && cur.dataset.key === el.dataset.key) {
        var st = el.querySelector('.badge'), cst = cur.querySelector('.badge');
        if (!isDirty(cur) && cur.innerHTML !== el.innerHTML) cur = document.importNode(el, true);
        else if (st && cst) cst.replaceWith(document.importNode(st, true));
        out.push(cur);
        delete keep[el.id];
      } else {
        out.push(document.importNode(el, true));
      }
    });
    Object.keys(keep).forEach(function (k) {
      var el = keep[k];
      if (isDirty(el) && !el.classList.contains('closed')) {
        el.classList.add('closed');
        var p = document.createElement('p');
        p.className = 'error';
        p.setAttribute('role', 'alert');
        p.textContent = 'This work item is not open any more (someone else acted on it). Copy what you typed before leaving.';
        el.insertBefore(p, el.children[1] || null);
        el.querySelectorAll('button[type=submit]:not([data-add]):not([data-remove])').forEach(function (b) { b.disabled = true; });
        out.push(el);
      } else if (isDirty(el)) {
        out.push(el);
      }
    });
    var heading = work.querySelector(':scope > h2');
    while (work.lastChild && work.lastChild !== heading) work.removeChild(work.lastChild);
    out.forEach(function (el) { work.appendChild(el); });
  }

  function isDirty(el) {
    return !!el.querySelector('form[data-dirty]');
  }
})();

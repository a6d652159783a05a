// log.js: the job page's log viewer (see internal/web/job.go).
//
// The page carries the log's tail and its commands as JSON (#log-boot).
// The viewer shows the log as sections per command and never holds the
// whole log: the scroller's height is the number of rows times the row
// height, only the rows near the viewport exist in the DOM, and the lines
// they need are fetched in blocks (GET …/log?format=lines&from=&to=) and
// cached. A running job is followed with Server-Sent Events
// (…/log?follow=1&format=lines), search runs on the server (…/log?q=).
(function () {
  'use strict';

  var bootEl = document.getElementById('log-boot');
  var view = document.getElementById('log-view');
  if (!bootEl || !view) return;
  var boot = JSON.parse(bootEl.textContent);

  var H = 20; // the row height in px: .log-view .row in log.css
  var BLOCK = 500; // lines per range request
  var OVERSCAN = 40; // rows rendered beyond the viewport on each side
  var HUGE = 5000; // sections with more lines start collapsed
  var MAX_CACHED = 200000; // lines kept in memory
  var MAX_HEIGHT = 15000000; // px: browsers cap element heights
  var PARALLEL = 4; // range requests in flight
  var MIN_VIEW = 288; // px: the log's least height (18rem)

  var api = '/api/v1/jobs/' + encodeURIComponent(boot.job);
  var total = boot.tail.total;
  var done = boot.done;
  var result = boot.result;
  var started = boot.started;
  var cmds = boot.commands || [];

  var text = new Map(); // line number → text
  var times = new Map(); // line number → Unix ms
  var wanted = []; // blocks the last render needed
  var inflight = new Set(); // blocks being fetched
  var failedAt = new Map(); // block → when its fetch failed
  var opened = new Map(); // command → open, as the reader chose
  var segs = []; // sections: {head: i} or {from, to}, with start row
  var rows = 0;
  var follow = false; // keep the end in view as lines arrive
  var highlight = -1; // the line of #L…
  var query = ''; // the current search, lowercased
  var matches = [];
  var matchSet = new Set();
  var matchAt = -1;
  var showTs = false;

  // The scroller holds a spacer (its height makes the scrollbar) and a
  // layer of absolutely positioned rows.
  // The pin, first in the scroller and sticky, shows the heading of the
  // section the reader is in once its own heading has scrolled away.
  var pin = document.createElement('div');
  pin.className = 'log-pin';
  var space = document.createElement('div');
  space.className = 'log-space';
  var layer = document.createElement('div');
  layer.className = 'log-rows';
  view.appendChild(pin);
  view.appendChild(space);
  view.appendChild(layer);
  var live = new Map(); // row key → element

  // numberWidth sizes the line number column for the largest number.
  var digits = 0;
  function numberWidth() {
    var d = Math.max(4, String(total).length);
    if (d !== digits) { digits = d; view.style.setProperty('--digits', d + 'ch'); }
  }
  function keep(v) {
    var t = v.t0;
    for (var i = 0; i < v.text.length; i++) {
      t += v.at[i];
      text.set(v.from + i, v.text[i]);
      times.set(v.from + i, t);
    }
    if (v.from + v.text.length > total || v.total > total) {
      total = Math.max(v.total, v.from + v.text.length);
      if (digits) numberWidth();
    }
  }
  keep(boot.tail);

  // Sections.

  function lastLine(i) {
    return i + 1 < cmds.length ? cmds[i + 1].first_line - 1 : total - 1;
  }
  function failed(c) {
    return c.exit_code != null ? c.exit_code !== 0 : done;
  }
  function anyFailed() {
    for (var i = 0; i < cmds.length; i++) if (failed(cmds[i])) return true;
    return false;
  }
  // The runner's own steps (internal/runner), never opened by default.
  var PSEUDO = { 'Exporting environment variables': true, 'Injecting Files': true };
  function lastReal() {
    for (var i = cmds.length - 1; i >= 0; i--) if (!PSEUDO[cmds[i].directive]) return i;
    return cmds.length - 1;
  }
  // isOpen: the reader's choice, else the failing and the running command
  // are open, and in a passed job the last command (not one of the
  // runner's steps) unless it is huge.
  function isOpen(i, someFailed) {
    if (opened.has(i)) return opened.get(i);
    var c = cmds[i];
    if (failed(c)) return true;
    if (c.exit_code == null) return true; // running
    if (someFailed || lastLine(i) - c.first_line > HUGE) return false;
    return i === lastReal();
  }
  function push(s) {
    s.start = rows;
    rows += s.head !== undefined ? 1 : s.to - s.from;
    segs.push(s);
  }
  function build() {
    segs = [];
    rows = 0;
    var first = cmds.length ? cmds[0].first_line : total;
    if (first > 0) push({ from: 0, to: first });
    var someFailed = anyFailed();
    for (var i = 0; i < cmds.length; i++) {
      push({ head: i });
      if (isOpen(i, someFailed)) {
        var a = cmds[i].first_line + 1, b = lastLine(i) + 1;
        if (b > a) push({ from: a, to: b });
      }
    }
  }
  // segAt finds the section holding row r.
  function segAt(r) {
    var lo = 0, hi = segs.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (segs[mid].start <= r) lo = mid; else hi = mid - 1;
    }
    return segs[lo];
  }
  function cmdOf(n) {
    var lo = 0, hi = cmds.length - 1, c = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (cmds[mid].first_line <= n) { c = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return c;
  }
  function rowOfHead(i) {
    for (var k = 0; k < segs.length; k++) if (segs[k].head === i) return segs[k].start;
    return 0;
  }
  function rowOfLine(n) {
    for (var k = 0; k < segs.length; k++) {
      var s = segs[k];
      if (s.head === undefined && n >= s.from && n < s.to) return s.start + n - s.from;
    }
    return -1;
  }

  // Geometry: the scroll range maps linearly onto the rows, so that logs
  // taller than MAX_HEIGHT still scroll from the first to the last row.

  function geometry() {
    var vh = view.clientHeight;
    var height = Math.min(rows * H, MAX_HEIGHT);
    return { vh: vh, height: height, maxScroll: Math.max(0, height - vh), span: Math.max(0, rows - vh / H) };
  }
  function topRow(g) {
    return g.maxScroll > 0 ? view.scrollTop / g.maxScroll * g.span : 0;
  }
  function scrollToRow(r) {
    space.style.height = Math.min(rows * H, MAX_HEIGHT) + 'px';
    var g = geometry();
    view.scrollTop = g.span > 0 ? Math.min(1, Math.max(0, r / g.span)) * g.maxScroll : 0;
  }
  function atEnd() {
    return view.scrollTop + view.clientHeight >= view.scrollHeight - 2 * H;
  }
  function toEnd() {
    space.style.height = Math.min(rows * H, MAX_HEIGHT) + 'px';
    view.scrollTop = view.scrollHeight;
  }

  // Rendering.

  var raf = 0;
  function schedule() {
    if (!raf) raf = requestAnimationFrame(render);
  }
  function render() {
    raf = 0;
    space.style.height = Math.min(rows * H, MAX_HEIGHT) + 'px';
    var g = geometry();
    var first = topRow(g);
    var a = Math.max(0, Math.floor(first) - OVERSCAN);
    var b = Math.min(rows, Math.ceil(first + g.vh / H) + OVERSCAN);
    var seen = new Set();
    var need = [];
    var someFailed = anyFailed();
    for (var r = a; r < b; r++) {
      var s = segAt(r);
      var key, sig, html, cls;
      if (s.head !== undefined) {
        var i = s.head;
        var open = isOpen(i, someFailed);
        key = 'h' + i;
        html = headHTML(i, open);
        sig = html;
        cls = 'row head' + (failed(cmds[i]) ? ' failed' : '');
      } else {
        var n = s.from + (r - s.start);
        key = 'l' + n;
        var t = text.get(n);
        if (t === undefined) need.push(Math.floor(n / BLOCK));
        sig = (t === undefined ? '\u0000' : t) + '\u0001' + showTs + (matchSet.has(n) ? 'm' : '') + (matches[matchAt] === n ? 'c' : '') + (n === highlight ? 'h' : '') + query;
        cls = 'row' + (matchSet.has(n) ? ' hit' : '') + (matches[matchAt] === n ? ' cur' : '') + (n === highlight ? ' hl' : '');
        html = null;
      }
      seen.add(key);
      var el = live.get(key);
      if (!el) {
        el = document.createElement('div');
        live.set(key, el);
        layer.appendChild(el);
      }
      el.style.top = Math.round(view.scrollTop + (r - first) * H) + 'px';
      if (el._sig !== sig) {
        el._sig = sig;
        el.className = cls;
        if (html !== null) {
          el.innerHTML = html;
          el.removeAttribute('data-n');
        } else {
          el.setAttribute('data-n', n);
          el.innerHTML = lineHTML(n, text.get(n));
        }
      }
    }
    // The pin: the heading of the section at the top, when it is above.
    var pinned = '';
    if (rows > 0) {
      var top = segAt(Math.min(rows - 1, Math.floor(first)));
      var c = top.head === undefined ? cmdOf(top.from + Math.floor(first) - top.start) : -1;
      if (c >= 0 && rowOfHead(c) < Math.floor(first)) pinned = headHTML(c, true);
      if (pinned) pinned = '<div class="row head' + (failed(cmds[c]) ? ' failed' : '') + '">' + pinned + '</div>';
    }
    if (pin._html !== pinned) { pin._html = pinned; pin.innerHTML = pinned; }
    live.forEach(function (el, key) {
      if (!seen.has(key)) {
        el.remove();
        live.delete(key);
      }
    });
    wanted = need;
    pump();
    evict(a, b);
  }

  function headHTML(i, open) {
    var c = cmds[i];
    var d = c.directive.split('\n')[0];
    var n = lastLine(i) - c.first_line;
    var h = '<button type="button" class="sec-h" data-cmd="' + i + '" aria-expanded="' + open + '">' +
      '<span class="chev" aria-hidden="true">' + (open ? '▾' : '▸') + '</span>' +
      '<span class="cmd">$ ' + esc(d) + '</span>';
    if (!open && n > 0) h += ' <span class="count">' + n.toLocaleString('en') + (n === 1 ? ' line' : ' lines') + '</span>';
    h += '<span class="meta">';
    if (c.exit_code != null) h += '<span class="exit' + (c.exit_code !== 0 ? ' bad' : '') + '">exit ' + c.exit_code + '</span>';
    else if (!done) h += '<span class="exit run">running</span>';
    if (c.started_at && c.finished_at) h += '<span class="dur">' + duration((c.finished_at - c.started_at) * 1000) + '</span>';
    return h + '</span></button>';
  }
  function lineHTML(n, t) {
    var h = '<a class="num" href="#L' + (n + 1) + '">' + (n + 1) + '</a>';
    if (showTs) {
      var at = times.get(n);
      h += '<span class="ts">' + (at === undefined ? '' : stamp(at)) + '</span>';
    }
    if (t === undefined) return h + '<span class="tx loading">…</span>';
    return h + '<span class="tx">' + ansi(t, query) + '</span>';
  }

  // Fetching ranges: only the blocks the latest render needs, a few at a
  // time, so a fast scroll through a huge log does not queue hundreds.
  function pump() {
    for (var k = 0; k < wanted.length && inflight.size < PARALLEL; k++) {
      var blk = wanted[k];
      if (inflight.has(blk)) continue;
      var f = failedAt.get(blk);
      if (f && Date.now() - f < 3000) continue;
      fetchBlock(blk);
    }
  }
  function fetchBlock(blk) {
    inflight.add(blk);
    fetch(api + '/log?format=lines&from=' + blk * BLOCK + '&to=' + (blk + 1) * BLOCK, { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('status ' + r.status); return r.json(); })
      .then(function (v) {
        keep(v);
        if (v.text.length === 0) throw new Error('empty range');
        failedAt.delete(blk);
      })
      .catch(function () { failedAt.set(blk, Date.now()); setTimeout(schedule, 3000); })
      .then(function () { inflight.delete(blk); schedule(); });
  }
  function evict(a, b) {
    if (text.size <= MAX_CACHED) return;
    var lo = segAt(a), hi = segAt(Math.max(a, b - 1));
    var from = (lo.from !== undefined ? lo.from : 0) - MAX_CACHED / 4;
    var to = (hi.to !== undefined ? hi.to : total) + MAX_CACHED / 4;
    text.forEach(function (_, n) {
      if (n < from || n > to) { text.delete(n); times.delete(n); }
    });
  }

  // ANSI SGR → HTML, as internal/web/ansi.go does; the state starts
  // afresh on every line.
  function esc(s) {
    return s.replace(/[&<>"]/g, function (c) {
      return c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;';
    });
  }
  function marked(s, q) {
    if (!q) return esc(s);
    var low = s.toLowerCase(), out = '', at = 0, i;
    while ((i = low.indexOf(q, at)) >= 0) {
      out += esc(s.slice(at, i)) + '<mark>' + esc(s.slice(i, i + q.length)) + '</mark>';
      at = i + q.length;
    }
    return out + esc(s.slice(at));
  }
  var ESC = /\x1b(?:\[([0-?]*)[ -\/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\s\S]?)/g;
  function ansi(s, q) {
    if (s.indexOf('\x1b') < 0) return marked(s, q);
    var st = { fg: '', bg: '', b: false, i: false, u: false };
    var out = '', open = false, last = 0, m;
    ESC.lastIndex = 0;
    function flush(seg) {
      if (!seg) return;
      if (!open && (st.fg || st.bg || st.b || st.i || st.u)) { out += spanOf(st); open = true; }
      out += marked(seg, q);
    }
    while ((m = ESC.exec(s))) {
      flush(s.slice(last, m.index));
      last = ESC.lastIndex;
      if (m[2] === 'm') {
        if (open) { out += '</span>'; open = false; }
        sgr(st, m[1]);
      }
      if (m[0] === '') ESC.lastIndex++;
    }
    flush(s.slice(last));
    if (open) out += '</span>';
    return out;
  }
  function sgr(st, params) {
    if (!params) { st.fg = st.bg = ''; st.b = st.i = st.u = false; return; }
    var ps = params.split(';');
    for (var k = 0; k < ps.length; k++) {
      var p = ps[k] === '' ? 0 : parseInt(ps[k], 10);
      if (isNaN(p)) continue;
      if (p === 0) { st.fg = st.bg = ''; st.b = st.i = st.u = false; }
      else if (p === 1) st.b = true;
      else if (p === 3) st.i = true;
      else if (p === 4) st.u = true;
      else if (p === 22) st.b = false;
      else if (p === 23) st.i = false;
      else if (p === 24) st.u = false;
      else if (p >= 30 && p <= 37) st.fg = 'c' + (p - 30);
      else if (p >= 90 && p <= 97) st.fg = 'c' + (p - 90 + 8);
      else if (p === 39) st.fg = '';
      else if (p >= 40 && p <= 47) st.bg = 'b' + (p - 40);
      else if (p >= 100 && p <= 107) st.bg = 'b' + (p - 100 + 8);
      else if (p === 49) st.bg = '';
      else if (p === 38 || p === 48) {
        // Colours are classes (cN/bN for the 16, xN/yN for the 256; a
        // true colour takes the nearest of the 256): the page's
        // Content-Security-Policy allows no style attribute.
        var n = -1, used = 1;
        if (ps[k + 1] === '5') {
          var v = parseInt(ps[k + 2], 10);
          used = 2;
          if (v >= 0 && v <= 255) n = v;
        } else if (ps[k + 1] === '2') {
          var r = parseInt(ps[k + 2], 10), g = parseInt(ps[k + 3], 10), bl = parseInt(ps[k + 4], 10);
          used = 4;
          if (r >= 0 && r < 256 && g >= 0 && g < 256 && bl >= 0 && bl < 256) n = nearestXterm(r, g, bl);
        }
        k += used;
        var c = n < 0 ? '' : n < 16 ? (p === 38 ? 'c' : 'b') + n : (p === 38 ? 'x' : 'y') + n;
        if (p === 38) st.fg = c; else st.bg = c;
      }
    }
  }
  var LEVELS = [0, 95, 135, 175, 215, 255];
  // nearestXterm is ansi.go's nearestXterm: the closest cube colour or
  // grey.
  function nearestXterm(r, g, b) {
    function level(v) {
      var best = 0;
      for (var i = 0; i < 6; i++) if (Math.abs(v - LEVELS[i]) < Math.abs(v - LEVELS[best])) best = i;
      return best;
    }
    function dist(r2, g2, b2) { return (r - r2) * (r - r2) + (g - g2) * (g - g2) + (b - b2) * (b - b2); }
    var ri = level(r), gi = level(g), bi = level(b);
    var cube = 16 + 36 * ri + 6 * gi + bi, cubeDist = dist(LEVELS[ri], LEVELS[gi], LEVELS[bi]);
    var grey = Math.min(23, Math.max(0, Math.trunc((Math.trunc((r + g + b) / 3) - 8 + 5) / 10)));
    var v = 8 + grey * 10;
    return dist(v, v, v) < cubeDist ? 232 + grey : cube;
  }
  function spanOf(st) {
    var cls = [];
    if (st.fg) cls.push(st.fg);
    if (st.bg) cls.push(st.bg);
    if (st.b) cls.push('bold');
    if (st.i) cls.push('italic');
    if (st.u) cls.push('underline');
    return '<span' + (cls.length ? ' class="' + cls.join(' ') + '"' : '') + '>';
  }

  function pad(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
  function stamp(ms) {
    var base = started || times.get(0) || ms;
    var d = Math.max(0, ms - base);
    var h = Math.floor(d / 3600000), m = Math.floor(d / 60000) % 60, s = Math.floor(d / 1000) % 60;
    return (h ? h + ':' : '') + pad(m, 2) + ':' + pad(s, 2) + '.' + pad(d % 1000, 3);
  }
  function duration(ms) {
    if (ms < 1000) return Math.round(ms) + 'ms';
    var s = Math.floor(ms / 1000);
    if (s < 60) return (ms / 1000).toFixed(1) + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h ' + Math.floor(s / 60) % 60 + 'm';
  }

  // Navigation.

  function goToLine(n, where) {
    if (n < 0 || n >= total) return;
    var c = cmdOf(n);
    var r;
    if (c >= 0 && cmds[c].first_line === n) {
      r = rowOfHead(c);
    } else {
      if (c >= 0 && !isOpen(c, anyFailed())) { opened.set(c, true); build(); }
      r = rowOfLine(n);
    }
    var vr = view.clientHeight / H;
    scrollToRow(where === 'bottom' ? r - vr + 2 : r - vr / 2 + 1);
    schedule();
  }
  function fromHash() {
    var m = /^#L(\d+)$/.exec(location.hash);
    if (!m) return false;
    highlight = parseInt(m[1], 10) - 1;
    goToLine(highlight);
    return true;
  }

  view.addEventListener('click', function (e) {
    var head = e.target.closest('.sec-h');
    if (head) {
      var i = parseInt(head.getAttribute('data-cmd'), 10);
      var g = geometry();
      // Keep the heading where it is; a pinned heading goes to the top.
      var offset = Math.max(0, rowOfHead(i) - topRow(g));
      opened.set(i, !isOpen(i, anyFailed()));
      build();
      scrollToRow(rowOfHead(i) - offset);
      schedule();
      var again = function () { var el = live.get('h' + i); if (el) el.querySelector('button').focus({ preventScroll: true }); else view.focus({ preventScroll: true }); };
      requestAnimationFrame(again);
      return;
    }
    var num = e.target.closest('a.num');
    if (num) {
      e.preventDefault();
      highlight = parseInt(num.textContent, 10) - 1;
      history.replaceState(null, '', '#L' + (highlight + 1));
      schedule();
    }
  });
  view.addEventListener('scroll', function () {
    if (!done) follow = atEnd();
    schedule();
  }, { passive: true });
  window.addEventListener('resize', function () { fit(); schedule(); });
  window.addEventListener('hashchange', fromHash);

  // fit makes the log fill the window below the job's header, however
  // short the log: the reader never sees a small box above an empty page.
  function fit() {
    var top = view.getBoundingClientRect().top + window.scrollY;
    var h = window.innerHeight - top - 16;
    if (h < MIN_VIEW) h = Math.max(MIN_VIEW, window.innerHeight - 32);
    view.style.height = Math.round(h) + 'px';
  }

  // The toolbar.

  var bar = document.getElementById('log-bar');
  var ts = document.getElementById('log-ts');
  var endBtn = document.getElementById('log-end');
  var form = document.getElementById('log-search');
  var input = document.getElementById('log-q');
  var prev = document.getElementById('log-prev');
  var next = document.getElementById('log-next');
  var hits = document.getElementById('log-hits');
  var liveBadge = document.getElementById('log-live');
  ts.addEventListener('change', function () { showTs = ts.checked; view.classList.toggle('with-ts', showTs); schedule(); });
  endBtn.addEventListener('click', function () {
    for (var i = cmds.length - 1; i >= 0; i--) {
      if (lastLine(i) > cmds[i].first_line) {
        if (!isOpen(i, anyFailed())) { opened.set(i, true); build(); }
        break;
      }
    }
    toEnd();
    if (!done) follow = true;
    schedule();
  });

  var searchGen = 0, lastQuery = null;
  function step(d) {
    if (!matches.length) return;
    matchAt = (matchAt + d + matches.length) % matches.length;
    hits.textContent = (matchAt + 1) + ' of ' + matches.length.toLocaleString('en') + (searching ? '+' : '');
    goToLine(matches[matchAt]);
  }
  var searching = false;
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var q = input.value.trim();
    if (q === lastQuery && matches.length) { step(1); return; }
    lastQuery = q;
    query = q.toLowerCase();
    matches = [];
    matchSet = new Set();
    matchAt = -1;
    prev.disabled = next.disabled = true;
    var gen = ++searchGen;
    schedule();
    if (!q) { hits.textContent = ''; return; }
    hits.textContent = 'Searching…';
    searching = true;
    (function page(from) {
      fetch(api + '/log?q=' + encodeURIComponent(q) + '&from=' + from + '&limit=10000', { credentials: 'same-origin' })
        .then(function (r) { if (!r.ok) throw new Error('status ' + r.status); return r.json(); })
        .then(function (v) {
          if (gen !== searchGen) return;
          v.matches.forEach(function (n) { matches.push(n); matchSet.add(n); });
          var more = v.next >= 0 && matches.length < 10000;
          searching = more;
          prev.disabled = next.disabled = !matches.length;
          if (matchAt < 0 && matches.length) step(1);
          else if (!matches.length) hits.textContent = more ? 'Searching… line ' + v.next.toLocaleString('en') + ' of ' + v.total.toLocaleString('en') : 'No matches';
          else hits.textContent = (matchAt + 1) + ' of ' + matches.length.toLocaleString('en') + (more ? '+' : '');
          schedule();
          if (more) page(v.next);
        })
        .catch(function () { if (gen === searchGen) { searching = false; hits.textContent = 'Search failed'; } });
    })(0);
  });
  prev.addEventListener('click', function () { step(-1); });
  next.addEventListener('click', function () { step(1); });

  document.querySelectorAll('.copy-btn').forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener('click', function () {
      var src = document.getElementById(btn.getAttribute('data-copy'));
      if (src && navigator.clipboard) navigator.clipboard.writeText(src.textContent).then(function () { btn.textContent = 'Copied'; });
    });
  });

  // Live: follow the log while the job runs, and its state.

  var statusEl = document.getElementById('job-status');
  function statusWord(j) {
    if (j.state === 'done') return j.result || 'done';
    return j.state || 'unknown';
  }
  var poll = 0;
  function refreshJob() {
    fetch(api, { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) return;
        var w = statusWord(j);
        if (statusEl) statusEl.innerHTML = '<span class="pill pill-' + esc(w) + '">' + esc(w) + '</span>';
        if (j.state === 'done' && !done) {
          done = true;
          // The stream ends by itself once the log is sealed; a job that
          // ended without a log never seals one.
          setTimeout(function () { if (stream) stream.close(); liveBadge.hidden = true; }, 5000);
          result = j.result;
          follow = false;
          var stop = document.querySelector('form[action$="/stop"]');
          if (stop) stop.remove();
          clearInterval(poll);
          build();
          schedule();
        }
      })
      .catch(function () {});
  }
  var stream = null;
  var ranEl = document.getElementById('job-ran');
  function startLive() {
    if (done || !window.EventSource) return;
    liveBadge.hidden = false;
    poll = setInterval(function () {
      refreshJob();
    }, 3000);
    var tick = setInterval(function () {
      if (done) { clearInterval(tick); return; }
      if (ranEl && started) ranEl.textContent = duration(Date.now() - started);
    }, 1000);
    var es = stream = new EventSource(api + '/log?follow=1&format=lines&from=' + Math.max(0, total - 1));
    es.addEventListener('lines', function (e) {
      keep(JSON.parse(e.data));
      build();
      if (follow) toEnd();
      schedule();
    });
    es.addEventListener('commands', function (e) {
      cmds = JSON.parse(e.data);
      build();
      if (follow) toEnd();
      schedule();
    });
    es.addEventListener('end', function () {
      es.close();
      liveBadge.hidden = true;
      refreshJob();
    });
  }

  bar.hidden = false;
  view.hidden = false;
  fit();
  numberWidth();
  build();
  space.style.height = Math.min(rows * H, MAX_HEIGHT) + 'px';
  if (!fromHash()) {
    var f = -1;
    for (var i = 0; i < cmds.length && f < 0; i++) if (failed(cmds[i])) f = i;
    if (f >= 0 && done) {
      goToLine(Math.max(lastLine(f), cmds[f].first_line), 'bottom');
    } else if (!done) {
      follow = true;
      toEnd();
    }
  }
  render();
  startLive();
})();

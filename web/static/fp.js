// fp.js: the report page's own script (contract: docs/fp-site.md).
//
// On a page with <main id="report">, it
//  1. follows the visit's live updates (/api/events, Datastar's
//     datastar-patch-elements and datastar-patch-signals events),
//  2. sends the fetch, XHR and websocket contexts not yet in data-done, one
//     after the other,
//  3. in auto mode (data-auto="1"), submits #form-post, or #form-get once
//     form-post is done.
//
// No dependencies, no eval, no inline code: it runs under the page's
// Content-Security-Policy. Errors go to the console and, as text, to
// #script-log when the page has one. Its progress is on #report's
// data-script: running, waiting (auto mode, for the server to confirm the
// contexts), submitting, idle.
(() => {
  'use strict';

  // The contexts the script sends itself, in order; auto mode waits for the
  // server to confirm them before it navigates away.
  const SCRIPT_CONTEXTS = ['fetch', 'xhr', 'websocket'];
  const AUTO_WAIT_MS = 5000;
  const REQUEST_TIMEOUT_MS = 15000;
  const HIGH_ENTROPY_TIMEOUT_MS = 3000;
  const HIGH_ENTROPY_HINTS = [
    'architecture', 'bitness', 'model', 'platformVersion',
    'fullVersionList', 'uaFullVersion', 'wow64', 'formFactors',
  ];
  const PATCH_MODES = new Set([
    'outer', 'inner', 'replace', 'prepend', 'append', 'before', 'after', 'remove',
  ]);

  // --- logging -------------------------------------------------------------

  function errorText(err) {
    if (err instanceof Error) return err.message || err.name;
    return String(err);
  }

  // logError reports a failure to the console and, as text, to #script-log.
  function logError(where, err) {
    const line = `${where}: ${errorText(err)}`;
    console.warn(`fp: ${line}`);
    const log = document.getElementById('script-log');
    if (log) log.textContent += `${line}\n`;
  }

  function setState(state) {
    const report = document.getElementById('report');
    if (report) report.dataset.script = state;
  }

  // --- signals -------------------------------------------------------------

  // Signal objects have no prototype, so a "__proto__" key from the server
  // is an ordinary key.
  const signals = Object.create(null);
  const listeners = new Set(); // called after every applied event
  const bound = new WeakSet(); // elements whose text the script has set

  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  // merge applies patch to target: null deletes a key, objects merge
  // recursively, anything else replaces. With onlyIfMissing, keys already
  // present are left as they are.
  function merge(target, patch, onlyIfMissing) {
    for (const [key, value] of Object.entries(patch)) {
      const present = hasOwn(target, key);
      if (value === null) {
        if (!onlyIfMissing) delete target[key];
      } else if (isObject(value)) {
        if (!present || !isObject(target[key])) {
          if (present && onlyIfMissing) continue;
          target[key] = Object.create(null);
        }
        merge(target[key], value, onlyIfMissing);
      } else if (!present || !onlyIfMissing) {
        target[key] = value;
      }
    }
  }

  // lookup returns the signal at a dotted path ("a.b"), or undefined.
  function lookup(path) {
    let v = signals;
    for (const key of path.split('.')) {
      if (!isObject(v) || !hasOwn(v, key)) return undefined;
      v = v[key];
    }
    return v;
  }

  function signalText(v) {
    if (v === undefined || v === null) return '';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function doneText(v) {
    return Array.isArray(v) ? v.join(' ') : signalText(v);
  }

  // refreshBindings shows the signals on the page: each [data-signal]
  // element's text, #report's data-done and #progress's data-complete. An
  // element keeps its own text until its signal exists.
  function refreshBindings() {
    for (const el of document.querySelectorAll('[data-signal]')) {
      const v = lookup(el.dataset.signal);
      if (v === undefined && !bound.has(el)) continue;
      const text = signalText(v);
      if (el.textContent !== text) el.textContent = text;
      bound.add(el);
    }
    const report = document.getElementById('report');
    if (report && hasOwn(signals, 'done')) {
      report.dataset.done = doneText(signals.done);
    }
    const progress = document.getElementById('progress');
    if (progress && hasOwn(signals, 'complete')) {
      progress.dataset.complete = String(signals.complete === true);
    }
  }

  // --- Datastar events -----------------------------------------------------

  // dataLines splits an event's data into [keyword, value] pairs: each line
  // is "keyword value" (datastar-go writes "elements <div>", "mode inner").
  function dataLines(data) {
    return data.split('\n').map((line) => {
      const space = line.indexOf(' ');
      return space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
    });
  }

  function patchSignals(data) {
    const json = [];
    let onlyIfMissing = false;
    for (const [key, value] of dataLines(data)) {
      if (key === 'signals') json.push(value);
      else if (key === 'onlyIfMissing') onlyIfMissing = value.trim() === 'true';
    }
    const patch = JSON.parse(json.join('\n'));
    if (!isObject(patch)) throw new Error('signals: not a JSON object');
    merge(signals, patch, onlyIfMissing);
  }

  // parseElements parses HTML into a fragment through a <template>, whose
  // content is inert; scripts are dropped (the CSP would block them anyway).
  function parseElements(html) {
    const template = document.createElement('template');
    template.innerHTML = html;
    for (const script of template.content.querySelectorAll('script')) script.remove();
    return template.content;
  }

  // place puts nodes (a fragment) at target by mode.
  function place(mode, target, nodes) {
    switch (mode) {
      case 'outer':
      case 'replace': target.replaceWith(nodes); break;
      case 'inner': target.replaceChildren(nodes); break;
      case 'prepend': target.prepend(nodes); break;
      case 'append': target.append(nodes); break;
      case 'before': target.before(nodes); break;
      case 'after': target.after(nodes); break;
      case 'remove': target.remove(); break;
    }
  }

  function patchElements(data) {
    let selector = '';
    let mode = 'outer';
    const html = [];
    for (const [key, value] of dataLines(data)) {
      if (key === 'selector') selector = value.trim();
      else if (key === 'mode') mode = value.trim();
      else if (key === 'elements') html.push(value);
      // namespace, useViewTransition...: not used by this page.
    }
    if (!PATCH_MODES.has(mode)) throw new Error(`elements: unknown mode "${mode}"`);
    const fragment = parseElements(html.join('\n'));

    if (selector) {
      const targets = Array.from(document.querySelectorAll(selector));
      if (targets.length === 0) console.warn(`fp: elements: nothing matches ${selector}`);
      targets.forEach((target, i) => {
        // Every target but the last gets a copy.
        const nodes = i === targets.length - 1 ? fragment : fragment.cloneNode(true);
        place(mode, target, nodes);
      });
      return;
    }

    // No selector: each top-level element patches the element with its id.
    for (const el of Array.from(fragment.children)) {
      if (!el.id) {
        console.warn(`fp: elements: <${el.localName}> has no id and no selector was given; skipped`);
        continue;
      }
      const target = document.getElementById(el.id);
      if (!target) {
        console.warn(`fp: elements: no element #${el.id}`);
        continue;
      }
      switch (mode) {
        case 'outer':
        case 'replace':
        case 'remove':
          place(mode, target, el);
          break;
        case 'inner': {
          const children = document.createDocumentFragment();
          children.append(...el.childNodes);
          target.replaceChildren(children);
          break;
        }
        default:
          console.warn(`fp: elements: mode ${mode} needs a selector; #${el.id} skipped`);
      }
    }
  }

  function applyEvent(kind, apply, event) {
    try {
      apply(event.data);
    } catch (err) {
      logError(kind, err);
    }
    try {
      refreshBindings();
    } catch (err) {
      logError('bindings', err);
    }
    for (const listener of listeners) listener();
  }

  // followEvents opens the visit's event stream. EventSource reconnects by
  // itself; the stream is closed once the server says the visit is complete.
  function followEvents(visit) {
    const source = new EventSource(`/api/events?visit=${encodeURIComponent(visit)}`);
    source.addEventListener('datastar-patch-elements', (e) => {
      applyEvent('elements', patchElements, e);
    });
    source.addEventListener('datastar-patch-signals', (e) => {
      applyEvent('signals', patchSignals, e);
      if (signals.complete === true) source.close();
    });
    return source;
  }

  // --- the contexts --------------------------------------------------------

  // doneSet is the set of contexts the page says are seen (#report's
  // data-done, which the signals keep current).
  function doneSet() {
    const report = document.getElementById('report');
    return new Set((report?.dataset.done ?? '').split(/\s+/).filter(Boolean));
  }

  function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  async function userAgentData(nav) {
    const uad = nav.userAgentData;
    if (!uad) return null;
    const data = {
      brands: Array.from(uad.brands ?? [], (b) => ({ brand: b.brand, version: b.version })),
      mobile: uad.mobile ?? null,
      platform: uad.platform ?? null,
    };
    if (typeof uad.getHighEntropyValues === 'function') {
      try {
        data.highEntropyValues = await withTimeout(
          uad.getHighEntropyValues(HIGH_ENTROPY_HINTS),
          HIGH_ENTROPY_TIMEOUT_MS,
          'getHighEntropyValues',
        );
      } catch (err) {
        data.error = errorText(err);
      }
    }
    return data;
  }

  // jsValues gathers the JavaScript values of the contract; what the
  // browser does not have is null.
  async function jsValues() {
    const nav = navigator;
    const scr = window.screen ?? {};
    let timezone = null;
    try {
      timezone = Intl.DateTimeFormat().resolvedOptions().timeZone ?? null;
    } catch {
      // no Intl: timezone stays null
    }
    const values = {
      userAgent: nav.userAgent ?? null,
      platform: nav.platform ?? null,
      languages: Array.from(nav.languages ?? []),
      language: nav.language ?? null,
      vendor: nav.vendor ?? null,
      hardwareConcurrency: nav.hardwareConcurrency ?? null,
      deviceMemory: nav.deviceMemory ?? null,
      webdriver: nav.webdriver ?? null,
      cookieEnabled: nav.cookieEnabled ?? null,
      maxTouchPoints: nav.maxTouchPoints ?? null,
      userAgentData: null,
      screen: {
        width: scr.width ?? null,
        height: scr.height ?? null,
        availWidth: scr.availWidth ?? null,
        availHeight: scr.availHeight ?? null,
        colorDepth: scr.colorDepth ?? null,
        pixelDepth: scr.pixelDepth ?? null,
        devicePixelRatio: window.devicePixelRatio ?? null,
      },
      timezone,
      timezoneOffset: new Date().getTimezoneOffset(),
    };
    try {
      values.userAgentData = await userAgentData(nav);
    } catch (err) {
      values.userAgentData = { error: errorText(err) };
    }
    return values;
  }

  async function sendFetch(visit) {
    let body;
    try {
      body = JSON.stringify(await jsValues());
    } catch (err) {
      body = JSON.stringify({ error: errorText(err) });
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try {
      const res = await fetch(`/api/fetch?visit=${encodeURIComponent(visit)}`, {
        method: 'POST',
        headers: { 'X-Fp-Context': 'fetch', 'Content-Type': 'application/json' },
        body,
        signal: abort.signal,
      });
      await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } finally {
      clearTimeout(timer);
    }
  }

  function sendXHR(visit) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `/api/xhr?visit=${encodeURIComponent(visit)}`);
      xhr.setRequestHeader('X-Fp-Context', 'xhr');
      xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.timeout = REQUEST_TIMEOUT_MS;
      xhr.addEventListener('load', () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(new Error(`HTTP ${xhr.status}`));
      });
      xhr.addEventListener('error', () => reject(new Error('network error')));
      xhr.addEventListener('timeout', () => reject(new Error('timed out')));
      xhr.addEventListener('abort', () => reject(new Error('aborted')));
      xhr.send(JSON.stringify({ xhr: true }));
    });
  }

  // sendWebsocket opens the websocket context: it offers fp.v1 and fp.v2,
  // sends "hello" and closes once the server has echoed it (the server's
  // first message is its report of the upgrade request).
  function sendWebsocket(visit) {
    return new Promise((resolve, reject) => {
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(
        `${scheme}//${location.host}/api/ws?visit=${encodeURIComponent(visit)}`,
        ['fp.v1', 'fp.v2'],
      );
      let echoed = false;
      let failure = null;
      const timer = setTimeout(() => {
        failure = new Error(`no echo in ${REQUEST_TIMEOUT_MS} ms`);
        ws.close();
      }, REQUEST_TIMEOUT_MS);
      ws.addEventListener('open', () => ws.send('hello'));
      ws.addEventListener('message', (e) => {
        if (e.data === 'hello' && !echoed) {
          echoed = true;
          ws.close(1000, 'done');
        }
      });
      ws.addEventListener('error', () => {
        failure ??= new Error('connection error');
      });
      ws.addEventListener('close', (e) => {
        clearTimeout(timer);
        if (echoed) resolve();
        else reject(failure ?? new Error(`closed (${e.code}) before the echo`));
      });
    });
  }

  const SENDERS = { fetch: sendFetch, xhr: sendXHR, websocket: sendWebsocket };

  // sendContexts sends, in order, each context the page has not seen yet.
  async function sendContexts(visit) {
    for (const name of SCRIPT_CONTEXTS) {
      if (doneSet().has(name)) continue;
      try {
        await SENDERS[name](visit);
      } catch (err) {
        logError(name, err);
      }
    }
  }

  // waitForDone resolves true once every name is in data-done, or false
  // after ms.
  function waitForDone(names, ms) {
    return new Promise((resolve) => {
      const check = () => {
        const done = doneSet();
        if (!names.every((n) => done.has(n))) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(false), ms);
      function finish(ok) {
        clearTimeout(timer);
        listeners.delete(check);
        resolve(ok);
      }
      listeners.add(check);
      check();
    });
  }

  function nextForm() {
    const done = doneSet();
    if (!done.has('form-post')) return 'form-post';
    if (!done.has('form-get')) return 'form-get';
    return '';
  }

  // autoSubmit submits the next form context the page has not seen, once
  // the server has the script's contexts (or after AUTO_WAIT_MS), so they
  // are recorded before the page navigates away.
  async function autoSubmit() {
    if (!nextForm()) return false;
    setState('waiting');
    if (!(await waitForDone(SCRIPT_CONTEXTS, AUTO_WAIT_MS))) {
      logError('auto', `the server did not confirm ${SCRIPT_CONTEXTS.join(', ')} in ${AUTO_WAIT_MS} ms; submitting anyway`);
    }
    const id = nextForm();
    if (!id) return false;
    const form = document.getElementById(id);
    if (!(form instanceof HTMLFormElement)) throw new Error(`no form #${id}`);
    setState('submitting');
    if (typeof form.requestSubmit === 'function') form.requestSubmit();
    else form.submit();
    return true;
  }

  async function run(visit, auto) {
    await sendContexts(visit);
    if (auto) {
      try {
        if (await autoSubmit()) return;
      } catch (err) {
        logError('auto', err);
      }
    }
    setState('idle');
  }

  function start() {
    const report = document.getElementById('report');
    if (!report) return;
    const visit = report.dataset.visit ?? '';
    if (!visit) {
      logError('start', '#report has no data-visit');
      return;
    }
    setState('running');
    try {
      followEvents(visit);
    } catch (err) {
      logError('events', err);
    }
    run(visit, report.dataset.auto === '1').catch((err) => {
      logError('script', err);
      setState('idle');
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start, { once: true });
  } else {
    start();
  }
})();

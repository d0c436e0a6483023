// Stevedore's web UI: one hand-written ES module, no framework and no build step (README "Web UI"
// says why). It reads only the registry's API (/v2/…, the referrers API) and the UI's read-only
// endpoints (/v2/_ui/repositories, /v2/NAME/_ui/{summary,tags}). With htpasswd the credentials stay
// in this page's memory (never in storage, cookies or URLs); with token authentication the page
// signs in through its own origin (/ui/login, /ui/token: server/ui/ui-session.ts), which keeps the
// refresh token in an http-only cookie the page cannot read, and holds only short-lived access
// tokens. Registry requests are sent with `credentials: 'omit'`, so the browser neither adds
// ambient credentials nor shows its own login dialog.

// A fresh load straight to a repository (#/r/NAME) asks for its first tags at once, while the page
// finds out whether the registry wants a login: without access control (or for what anonymous
// callers may read) this answer is the one the view needs, one round trip and the module's set-up
// earlier; with access control it is a 401 and the view asks again once signed in.
const TAG_FIRST = 20; // rows of the first answer: a screenful, the rest of the page follows
const earlyProbe = fetch('/v2/', { credentials: 'omit', cache: 'no-store' });
const early = (() => {
  const m = /^#\/r\/([^/?]+)$/.exec(location.hash);
  if (!m) return undefined;
  let name;
  try {
    name = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  const path = `/v2/${name.split('/').map(encodeURIComponent).join('/')}/_ui/tags?n=${TAG_FIRST}`;
  const response = fetch(path, { credentials: 'omit', cache: 'no-store' }).then((r) => (r.ok ? r.json() : undefined)).catch(() => undefined);
  return { path, response };
})();

const $ = (sel) => document.querySelector(sel);
const main = $('#main');
const HOST = location.host;
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const REPO_PAGE = 50;
const TAG_PAGE = 100;

// ---- DOM building (text only: nothing from the registry is ever parsed as HTML)

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return append(el, ...children);
}

function append(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function replace(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

// ---- Formatting: binary units, the user's locale and time zone

// Made on first use: building them loads locale data, which would hold up the module's first requests.
const lazy = (make) => {
  let v;
  return { format: (x) => (v ??= make()).format(x) };
};
const numberFmt = lazy(() => new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }));
const intFmt = lazy(() => new Intl.NumberFormat(undefined));
const timeFmt = lazy(() => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }));

function bytes(n) {
  if (n === undefined || n === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? intFmt.format(v) : numberFmt.format(v)} ${units[i]}`;
}

function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, timeFmt.format(d));
}

const shortDigest = (d) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '');

function kindOf(mediaType) {
  if (/index|manifest\.list/.test(mediaType)) return 'index';
  return 'image';
}

// ---- Session: who is signed in, and how requests are authorised

const session = {
  /** 'none' (no access control), 'basic' (htpasswd) or 'bearer' (token service). */
  mode: undefined,
  user: undefined,
  basic: undefined, // the Basic header value, in memory only
  tokens: new Map(), // scope → Promise<{ token, expires }>: access tokens, in memory only
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function parseChallenge(header) {
  const m = /^(\w+)\s+(.*)$/.exec(header ?? '');
  if (!m) return undefined;
  const params = {};
  for (const p of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) params[p[1]] = p[2].replace(/\\(.)/g, '$1');
  return { scheme: m[1].toLowerCase(), ...params };
}

/**
 * The page's own session endpoints (token authentication): same-origin JSON, the session cookie
 * sent (same-origin only: it is SameSite=Strict and scoped to /ui/).
 */
async function sessionRequest(path, body = {}) {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = answer?.errors?.[0];
    throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? `${path}: ${res.status}`);
  }
  return answer;
}

/**
 * An access token for the scope and whom it is for: the signed-in user ('' for a guest's anonymous
 * token). Kept until shortly before it expires.
 */
async function tokenFor(scope) {
  const cached = session.tokens.get(scope);
  if (cached) {
    const t = await cached.catch(() => undefined);
    if (t && t.expires > Date.now() + 10_000) return t;
    if (session.tokens.get(scope) === cached) session.tokens.delete(scope);
  }
  // Shared while in flight: a view asks for one repository's token many times at once.
  const p = sessionRequest('/ui/token', { scope }).then((a) => ({ token: a.token, expires: Date.now() + a.expiresIn * 1000, user: a.user }));
  session.tokens.set(scope, p);
  p.catch(() => session.tokens.get(scope) === p && session.tokens.delete(scope));
  const t = await p;
  // Signed out meanwhile (another tab): the cookie is gone, the answer is anonymous.
  if (session.user && t.user !== session.user) throw new ApiError(401, 'UNAUTHORIZED', 'the session has ended: sign in again');
  return t;
}

const bearerFor = async (scope) => (await tokenFor(scope)).token;

/**
 * A request to the registry. `scope` is the token scope the call needs (the repository's, asked
 * for with delete too: the token service grants only what the rules allow, and the UI endpoints
 * report what was granted).
 */
async function api(path, { method = 'GET', accept, scope, raw = false, quiet = false } = {}) {
  const headers = {};
  if (accept) headers.Accept = accept;
  if (session.mode === 'basic' && session.basic) headers.Authorization = session.basic;
  if (session.mode === 'bearer' && scope) {
    try {
      headers.Authorization = `Bearer ${await bearerFor(scope)}`;
    } catch (e) {
      if (e.status === 401 && session.user && !quiet) forget(); // the session expired: the login form
      throw e;
    }
  }
  const res = await fetch(path, { method, headers, credentials: 'omit', cache: 'no-store' });
  if (res.status === 401 && !session.user && !quiet) {
    session.user = undefined;
    renderSession();
    showLogin();
    throw new ApiError(401, 'UNAUTHORIZED', 'sign in to continue');
  }
  if (!res.ok) {
    const body = await res.json().catch(() => undefined);
    const e = body?.errors?.[0];
    // A token lacking the scope is answered 401 (as distribution does, for clients to ask again);
    // the page asked already: signed in (or a guest), that is a refusal, shown as one.
    if (res.status === 401 && session.mode === 'bearer' && session.user !== undefined) throw new ApiError(403, 'DENIED', e?.message ?? 'requested access to the resource is denied');
    throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? `${method} ${path}: ${res.status}`);
  }
  if (raw) return res;
  return method === 'DELETE' ? undefined : res.json();
}

/** The early answer (see `early` above) when it is for this path and the page has no credentials. */
async function takeEarly(path) {
  if (!early || early.path !== path || session.basic || session.mode === 'bearer') return undefined;
  const { response } = early;
  early.path = undefined; // used once: later visits ask afresh
  return response;
}

const repoScope = (name) => `repository:${name}:pull,delete`;
const CATALOG_SCOPE = 'registry:catalog:*';
const enc = (name) => name.split('/').map(encodeURIComponent).join('/');

async function probe() {
  const res = await earlyProbe;
  if (res.ok) {
    session.mode = 'none';
    return;
  }
  const ch = parseChallenge(res.headers.get('WWW-Authenticate'));
  if (ch?.scheme === 'bearer') {
    session.mode = 'bearer';
    // Signed in already (the session cookie survives a reload), or a guest: then whether anonymous
    // callers may list anything (rules that let them pull, and list: `catalog: true`).
    try {
      const t = await tokenFor(CATALOG_SCOPE);
      if (t.user) {
        session.user = t.user;
        return;
      }
      const guest = await fetch('/v2/_ui/repositories?n=1', { headers: { Authorization: `Bearer ${t.token}` }, credentials: 'omit', cache: 'no-store' });
      session.guestOk = guest.ok;
    } catch {
      session.guestOk = false;
    }
    session.tokens.clear();
  } else {
    session.mode = 'basic';
    // Rules may let anonymous callers pull a public area: then the page offers to browse it.
    const guest = await fetch('/v2/_ui/repositories?n=1', { credentials: 'omit', cache: 'no-store' });
    session.guestOk = guest.ok;
  }
}

async function signIn(user, password) {
  if (session.mode === 'basic') {
    const header = `Basic ${btoa(String.fromCodePoint(...new TextEncoder().encode(`${user}:${password}`)))}`;
    const res = await fetch('/v2/', { headers: { Authorization: header }, credentials: 'omit', cache: 'no-store' });
    if (res.status === 429) throw new ApiError(429, 'TOOMANYREQUESTS', 'too many failed sign-ins: try again later');
    if (!res.ok) throw new ApiError(res.status, 'UNAUTHORIZED', 'wrong user name or password');
    session.basic = header;
  } else {
    // The registry does the password grant with the token service (wherever it is) and keeps the
    // refresh token in an http-only cookie; the page never sees it, nor keeps the password.
    const answer = await sessionRequest('/ui/login', { username: user, password });
    session.tokens.clear();
    user = answer.user;
  }
  session.user = user;
}

function forget() {
  Object.assign(session, { user: undefined, basic: undefined, admin: false });
  session.tokens.clear();
  renderSession();
  showLogin();
}

function signOut() {
  if (session.mode === 'bearer') sessionRequest('/ui/logout').catch(() => undefined).finally(forget);
  else forget();
}

function renderSession() {
  const el = $('#session');
  const ops = session.admin ? [h('a', { href: '#/ops', class: 'ops-link' }, 'Operations'), ' '] : null;
  if (session.user === '') return replace(el, h('span', { class: 'user' }, 'Guest'), ' ', h('button', { type: 'button', class: 'btn small', onclick: signOut }, 'Sign in'));
  if (session.mode === 'none' || !session.user) return replace(el, ops);
  replace(el, ops, h('span', { class: 'user', 'aria-label': 'Signed in as' }, session.user), ' ', h('button', { type: 'button', class: 'btn small', onclick: signOut }, 'Sign out'));
}

const ADMIN_SCOPE = 'registry:admin:*';

/**
 * Whether the caller is an admin (the Operations link shows only then). Asked after the view is
 * drawn, off the first render's path; the registry decides (a non-admin gets 401 or 403).
 */
async function checkAdmin() {
  if (session.mode !== 'none' && !session.user) return;
  const was = session.admin;
  try {
    session.admin = (await api('/v2/_ui/admin', { scope: ADMIN_SCOPE, quiet: true })).admin === true;
  } catch {
    session.admin = false;
  }
  document.body.dataset.admin = String(session.admin); // answered (tests wait for it)
  if (session.admin !== was) renderSession();
}

// ---- Feedback

let toastTimer;
function toast(text) {
  const el = $('#toast');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 2500);
}

function errorBox(err) {
  const hint = err.status === 403 ? ' You do not have access to this.' : err.status === 404 ? ' It may have been deleted.' : '';
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, err.code ?? 'Error'), ': ', err.message, hint);
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No Clipboard API outside secure contexts (plain http to a host name): the old way.
    const ta = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  toast('Copied to the clipboard');
}

function copyButton(text, label) {
  return h('button', { type: 'button', class: 'btn small copy', 'aria-label': label, title: label, onclick: () => copy(text) }, 'Copy');
}

function setCrumbs(parts) {
  const nav = $('#crumbs');
  const items = [['Repositories', '#/'], ...parts];
  replace(
    nav,
    h(
      'ol',
      {},
      items.map(([label, href], i) =>
        h('li', {}, i === items.length - 1 ? h('span', { 'aria-current': 'page' }, label) : h('a', { href }, label)),
      ),
    ),
  );
}

function setTitle(text) {
  document.title = `${text} · Stevedore`;
}

// ---- Login

function showLogin() {
  replace($('#crumbs'));
  setTitle('Sign in');
  const err = h('div', { 'aria-live': 'assertive' });
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'card login',
      'aria-labelledby': 'login-title',
      onsubmit: async (ev) => {
        ev.preventDefault();
        submit.disabled = true;
        replace(err);
        try {
          await signIn(user.value, pass.value);
          pass.value = '';
          renderSession();
          route().then(checkAdmin);
        } catch (e) {
          replace(err, errorBox(e));
          submit.disabled = false;
          pass.select();
        }
      },
    },
    h('h1', { id: 'login-title' }, 'Sign in to the registry'),
    h('p', { class: 'muted' }, session.mode === 'bearer' ? 'Your registry account (the token service issues the access).' : 'Your registry account.'),
    h('label', { for: 'login-user' }, 'User name'),
    user,
    h('label', { for: 'login-password' }, 'Password'),
    pass,
    err,
    submit,
    session.guestOk
      ? h('button', {
          type: 'button',
          class: 'btn',
          onclick: () => {
            session.user = ''; // a guest: no credentials, what anonymous callers may pull
            renderSession();
            route();
          },
        }, 'Browse public repositories')
      : null,
  );
  replace(main, form);
  user.focus();
}

// ---- Repositories

const summaries = new Map(); // name → Promise<summary>

// Repository summaries are extras: at most a few at once (a browser opens only six connections to
// a host, and the view's own requests must not wait behind fifty summaries), and the ones queued
// for a view that was left are dropped.
let view = 0;
const queue = [];
let running = 0;
const SUMMARIES_AT_ONCE = 3;

function pump() {
  while (running < SUMMARIES_AT_ONCE && queue.length > 0) {
    const job = queue.shift();
    if (job.view !== view) {
      job.reject(new ApiError(0, 'CANCELLED', 'left the page'));
      continue;
    }
    running++;
    job.run().then(job.resolve, job.reject).finally(() => {
      running--;
      pump();
    });
  }
}

function summaryOf(name) {
  let p = summaries.get(name);
  if (!p) {
    p = new Promise((resolve, reject) => {
      queue.push({ view, resolve, reject, run: () => api(`/v2/${enc(name)}/_ui/summary`, { scope: repoScope(name) }) });
      pump();
    });
    summaries.set(name, p);
    p.catch(() => summaries.delete(name));
    setTimeout(() => summaries.delete(name), 30_000);
  }
  return p;
}

function listKeys(ev, rowsSelector) {
  // Up and down move between the rows' links; `/` goes to the filter.
  if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
  const links = [...main.querySelectorAll(rowsSelector)];
  const i = links.indexOf(document.activeElement);
  if (i < 0) return;
  ev.preventDefault();
  links[Math.max(0, Math.min(links.length - 1, i + (ev.key === 'ArrowDown' ? 1 : -1)))].focus();
}

async function showRepositories(params) {
  setCrumbs([]);
  setTitle('Repositories');
  const q = params.get('q') ?? '';
  const filter = h('input', { id: 'repo-filter', type: 'search', value: q, placeholder: 'e.g. team/app', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'repo-count' });
  const count = h('p', { id: 'repo-count', class: 'muted', 'aria-live': 'polite' });
  const body = h('tbody');
  const pager = h('div', { class: 'pager' });
  const table = h(
    'table',
    { class: 'list repos', 'aria-label': 'Repositories' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Repository'), h('th', { scope: 'col', class: 'num' }, 'Tags'), h('th', { scope: 'col', class: 'opt' }, 'Last push'), h('th', { scope: 'col', class: 'num opt' }, 'Size'))),
    body,
  );
  replace(
    main,
    h('div', { class: 'head' }, h('h1', {}, 'Repositories')),
    h('div', { class: 'filter' }, h('label', { for: 'repo-filter' }, 'Filter repositories'), filter),
    count,
    h('div', { class: 'scroll', onkeydown: (ev) => listKeys(ev, 'tbody a') }, table),
    pager,
  );
  const cursors = [undefined]; // `last` of each page shown, for Previous
  let generation = 0;

  async function load(page) {
    const mine = ++generation;
    const qs = new URLSearchParams({ n: String(REPO_PAGE) });
    if (filter.value) qs.set('q', filter.value);
    if (cursors[page]) qs.set('last', cursors[page]);
    let res;
    try {
      res = await api(`/v2/_ui/repositories?${qs}`, { scope: CATALOG_SCOPE });
    } catch (e) {
      if (mine === generation && e.status !== 401) replace(body, h('tr', {}, h('td', { colspan: 4 }, errorBox(e))));
      return;
    }
    if (mine !== generation) return; // the filter changed meanwhile
    count.textContent = res.total === 0 ? (filter.value ? 'No repository matches the filter.' : 'No repositories yet.') : `${intFmt.format(res.total)} ${res.total === 1 ? 'repository' : 'repositories'}${res.total > REPO_PAGE ? `, page ${page + 1} of ${Math.ceil(res.total / REPO_PAGE)}` : ''}`;
    cursors[page + 1] = res.next;
    replace(
      body,
      res.repositories.map((name) => {
        const tags = h('td', { class: 'num' }, '…');
        const last = h('td', { class: 'opt' }, '…');
        const size = h('td', { class: 'num opt' }, '…');
        summaryOf(name).then(
          (s) => {
            replace(tags, intFmt.format(s.tags));
            replace(last, time(s.lastPush));
            replace(size, bytes(s.size));
          },
          () => [tags, last, size].forEach((c) => replace(c, '—')),
        );
        return h('tr', {}, h('th', { scope: 'row' }, h('a', { href: `#/r/${encodeURIComponent(name)}` }, name)), tags, last, size);
      }),
    );
    if (page === 0 && !res.next) return replace(pager); // one page: no pager
    replace(
      pager,
      h('button', { type: 'button', class: 'btn', disabled: page === 0, onclick: () => load(page - 1) }, '← Previous'),
      h('button', { type: 'button', class: 'btn', disabled: !res.next, onclick: () => load(page + 1) }, 'Next →'),
    );
  }

  let debounce;
  filter.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      cursors.length = 1;
      // Keep the filter in the address (shareable; it is not a secret) without a new history entry.
      history.replaceState(null, '', filter.value ? `#/?q=${encodeURIComponent(filter.value)}` : '#/');
      load(0);
    }, 120);
  });
  filter.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      main.querySelector('tbody a')?.focus();
    }
  });
  await load(0);
  if (!document.activeElement || document.activeElement === document.body || document.activeElement === main) filter.focus();
}

// ---- A repository: its tags

function typeBadge(row) {
  const label = row.kind === 'index' ? 'index' : row.kind === 'artifact' ? 'artifact' : 'image';
  return h('span', { class: `badge ${label}`, title: row.artifactType ?? row.mediaType }, label);
}

function platformsText(platforms) {
  const runnable = platforms.filter((p) => !p.attestation);
  return runnable.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`).join(', ');
}

function pullCommands(name, ref, digest) {
  const byTag = ref && !ref.includes(':') ? `${HOST}/${name}:${ref}` : undefined;
  const byDigest = digest ? `${HOST}/${name}@${digest}` : undefined;
  const lines = [];
  if (byTag) lines.push(['docker', `docker pull ${byTag}`], ['stevedore', `stevedore pull ${byTag}`]);
  if (byDigest) lines.push(['by digest', `docker pull ${byDigest}`]);
  return h(
    'section',
    { class: 'card pull', 'aria-labelledby': 'pull-title' },
    h('h2', { id: 'pull-title' }, 'Pull'),
    h(
      'ul',
      { class: 'commands' },
      lines.map(([label, cmd]) => h('li', {}, h('span', { class: 'cmd-label' }, label), h('code', {}, cmd), copyButton(cmd, `Copy ${label} pull command`))),
    ),
  );
}

const SORTS = {
  tag: (a, b) => a.tag.localeCompare(b.tag),
  type: (a, b) => a.kind.localeCompare(b.kind),
  size: (a, b) => a.size - b.size,
  created: (a, b) => (a.created ?? '').localeCompare(b.created ?? ''),
  pushed: (a, b) => (a.pushed ?? '').localeCompare(b.pushed ?? ''),
};

async function showRepository(name) {
  setCrumbs([[name, `#/r/${encodeURIComponent(name)}`]]);
  setTitle(name);
  const stats = h('p', { class: 'muted stats' }, 'Loading…');
  const body = h('tbody');
  const more = h('div', { class: 'pager' });
  const rows = [];
  let sort = { key: 'tag', dir: 1 };
  const headers = {};
  const th = (key, label, cls) => {
    const btn = h('button', { type: 'button', class: 'sort', onclick: () => setSort(key) }, label, h('span', { class: 'arrow', 'aria-hidden': 'true' }));
    headers[key] = h('th', { scope: 'col', class: cls }, btn);
    return headers[key];
  };
  const table = h(
    'table',
    { class: 'list tags', 'aria-label': `Tags of ${name}` },
    h('thead', {}, h('tr', {}, th('tag', 'Tag'), h('th', { scope: 'col', class: 'opt' }, 'Digest'), th('type', 'Type'), h('th', { scope: 'col', class: 'opt' }, 'Platforms'), th('size', 'Size', 'num'), th('created', 'Created', 'opt'), th('pushed', 'Pushed', 'opt'))),
    body,
  );
  replace(main, h('div', { class: 'head' }, h('h1', {}, name)), stats, h('div', { class: 'scroll', onkeydown: (ev) => listKeys(ev, 'tbody th a') }, table), more);

  function setSort(key) {
    sort = sort.key === key ? { key, dir: -sort.dir } : { key, dir: key === 'tag' || key === 'type' ? 1 : -1 };
    draw();
  }

  function draw() {
    for (const [k, el] of Object.entries(headers)) el.setAttribute('aria-sort', k === sort.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    const sorted = [...rows].sort((a, b) => sort.dir * SORTS[sort.key](a, b));
    replace(
      body,
      sorted.map((r) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, h('a', { href: `#/r/${encodeURIComponent(name)}/m/${encodeURIComponent(r.tag)}` }, r.tag)),
          h('td', { class: 'opt digest' }, h('code', { title: r.digest }, shortDigest(r.digest)), ' ', copyButton(r.digest, `Copy digest of ${r.tag}`)),
          h('td', {}, typeBadge(r)),
          h('td', { class: 'opt' }, platformsText(r.platforms) || h('span', { class: 'muted' }, '—')),
          h('td', { class: 'num' }, bytes(r.size)),
          h('td', { class: 'opt' }, time(r.created)),
          h('td', { class: 'opt' }, time(r.pushed)),
        ),
      ),
    );
  }

  async function load(last, n = TAG_PAGE) {
    const qs = new URLSearchParams({ n: String(n) });
    if (last) qs.set('last', last);
    const path = `/v2/${enc(name)}/_ui/tags?${qs}`;
    let res;
    try {
      res = await takeEarly(path);
      res ??= await api(path, { scope: repoScope(name) });
    } catch (e) {
      if (e.status !== 401) replace(stats, errorBox(e));
      return;
    }
    rows.push(...res.tags);
    replace(stats, `${intFmt.format(res.total)} ${res.total === 1 ? 'tag' : 'tags'}${rows.length < res.total ? `, ${intFmt.format(rows.length)} shown` : ''}`);
    draw();
    replace(more, res.next ? h('button', { type: 'button', class: 'btn', onclick: () => load(res.next) }, `Load ${intFmt.format(Math.min(TAG_PAGE, res.total - rows.length))} more`) : null);
    if (rows.length === 0) replace(body, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No tags.')));
    return res.next;
  }
  // A screenful first (shown sooner), then the rest of the first page.
  const next = await load(undefined, TAG_FIRST);
  if (next && rows.length < TAG_PAGE) await load(next, TAG_PAGE - rows.length);
  if (rows.length > 0) {
    // `latest`, else the newest pushed image or index (an SBOM's tag is no pull command).
    const pullable = rows.filter((r) => r.kind !== 'artifact').sort((a, b) => (b.pushed ?? '').localeCompare(a.pushed ?? ''));
    const tag = rows.some((r) => r.tag === 'latest') ? 'latest' : pullable[0]?.tag;
    if (tag) main.insertBefore(pullCommands(name, tag, undefined), stats.nextSibling);
  }
  // Repository totals come separately: they read every tag and must not hold up the first page.
  summaryOf(name).then(
    (s) => append(stats, ` · ${bytes(s.size)} · last push `, time(s.lastPush)),
    () => undefined,
  );
}

// ---- A manifest: platforms or layers, config, annotations, referrers, raw JSON

function kv(rows) {
  const present = rows.filter(([, v]) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && v !== '');
  if (present.length === 0) return h('p', { class: 'muted' }, 'None.');
  return h('dl', { class: 'kv' }, present.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v instanceof Node ? v : Array.isArray(v) ? h('ul', { class: 'plain' }, v.map((x) => h('li', {}, h('code', {}, x)))) : h('code', {}, String(v)))]));
}

function section(id, title, ...content) {
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

function annotationsSection(annotations) {
  if (!annotations || Object.keys(annotations).length === 0) return null;
  return section('annotations-title', 'Annotations', kv(Object.entries(annotations)));
}

/** What a referrer is, in words, for the artifact types in common use. */
function referrerKind(artifactType = '') {
  if (/cosign\.artifact\.sig|notary|signature/i.test(artifactType)) return 'Signature';
  if (/spdx|cyclonedx|syft|sbom/i.test(artifactType)) return 'SBOM';
  if (/in-toto|attestation|provenance|vex/i.test(artifactType)) return 'Attestation';
  return undefined;
}

async function referrersTree(name, digest, depth = 0) {
  let res;
  try {
    res = await api(`/v2/${enc(name)}/referrers/${digest}`, { scope: repoScope(name) });
  } catch (e) {
    return depth === 0 ? errorBox(e) : null;
  }
  const list = res.manifests ?? [];
  if (list.length === 0) return depth === 0 ? h('p', { class: 'muted' }, 'Nothing refers to this manifest.') : null;
  const items = await Promise.all(
    list.map(async (d) =>
      h(
        'li',
        {},
        referrerKind(d.artifactType) ? [h('strong', {}, referrerKind(d.artifactType)), ' '] : null,
        h('span', { class: 'badge artifact' }, d.artifactType ?? d.mediaType),
        ' ',
        h('a', { href: `#/r/${encodeURIComponent(name)}/m/${encodeURIComponent(d.digest)}` }, h('code', {}, shortDigest(d.digest))),
        ' ',
        h('span', { class: 'muted' }, bytes(d.size)),
        d.annotations?.['org.opencontainers.image.created'] ? [' · ', time(d.annotations['org.opencontainers.image.created'])] : null,
        depth < 2 ? await referrersTree(name, d.digest, depth + 1) : null,
      ),
    ),
  );
  return h('ul', { class: 'tree', 'aria-label': depth === 0 ? 'Referrers' : undefined }, items);
}

async function confirmDelete(title, lines) {
  const dialog = $('#confirm');
  replace($('#confirm-title'), title);
  replace($('#confirm-body'), lines.map((l) => h('p', {}, l)));
  const opener = document.activeElement;
  dialog.showModal();
  $('#confirm-cancel').focus();
  return new Promise((resolve) => {
    const done = (ok) => {
      dialog.close();
      $('#confirm-ok').onclick = null;
      $('#confirm-cancel').onclick = null;
      dialog.oncancel = null;
      opener?.focus?.();
      resolve(ok);
    };
    $('#confirm-ok').onclick = () => done(true);
    $('#confirm-cancel').onclick = () => done(false);
    dialog.oncancel = () => done(false);
  });
}

async function allTagsOf(name) {
  const out = [];
  let last;
  do {
    const qs = new URLSearchParams({ n: '1000' });
    if (last) qs.set('last', last);
    const res = await api(`/v2/${enc(name)}/_ui/tags?${qs}`, { scope: repoScope(name) });
    out.push(...res.tags);
    last = res.next;
  } while (last);
  return out;
}

function deleteActions(name, ref, digest, referrerCount) {
  const isTag = !ref.includes(':');
  const del = async (what) => {
    const tags = await allTagsOf(name);
    const pointing = tags.filter((t) => t.digest === digest).map((t) => t.tag);
    let lines;
    if (what === 'tag') {
      const others = pointing.filter((t) => t !== ref);
      lines = [
        `The tag ${name}:${ref} is removed.`,
        others.length > 0 ? `The manifest stays, still tagged ${others.join(', ')}.` : `The manifest ${shortDigest(digest)} stays, reachable by digest only, until garbage collection removes untagged manifests.`,
      ];
    } else {
      lines = [
        `The manifest ${digest} is removed from ${name}.`,
        pointing.length > 0 ? `With it go the tags: ${pointing.join(', ')}.` : 'No tag points at it.',
        referrerCount > 0 ? `${referrerCount} referrer${referrerCount === 1 ? '' : 's'} (signatures, SBOMs, attestations) lose their subject and are removed by garbage collection.` : 'Nothing refers to it.',
        'Layers no other manifest uses are freed by the next garbage collection.',
      ];
    }
    const ok = await confirmDelete(what === 'tag' ? `Delete tag ${ref}?` : `Delete manifest ${shortDigest(digest)}?`, lines);
    if (!ok) return;
    try {
      await api(`/v2/${enc(name)}/manifests/${what === 'tag' ? encodeURIComponent(ref) : digest}`, { method: 'DELETE', scope: repoScope(name) });
    } catch (e) {
      replace($('#delete-result'), errorBox(e));
      return;
    }
    summaries.delete(name);
    toast(what === 'tag' ? `Deleted tag ${ref}` : `Deleted manifest ${shortDigest(digest)}`);
    location.hash = `#/r/${encodeURIComponent(name)}`;
  };
  return section(
    'actions-title',
    'Actions',
    h(
      'div',
      { class: 'actions' },
      isTag ? h('button', { type: 'button', class: 'btn danger', onclick: () => del('tag') }, `Delete tag ${ref}`) : null,
      h('button', { type: 'button', class: 'btn danger', onclick: () => del('manifest') }, 'Delete manifest'),
    ),
    h('div', { id: 'delete-result' }),
  );
}

function configSection(config) {
  const c = config?.config ?? {};
  const list = (o) => (o && typeof o === 'object' ? Object.keys(o) : undefined);
  const json = (v) => (v === undefined ? undefined : Array.isArray(v) ? v : String(v));
  return section(
    'config-title',
    'Configuration',
    kv([
      ['Platform', config.os ? `${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}` : undefined],
      ['Created', config.created ? time(config.created) : undefined],
      ['Entrypoint', json(c.Entrypoint)],
      ['Cmd', json(c.Cmd)],
      ['Env', c.Env],
      ['WorkingDir', c.WorkingDir],
      ['User', c.User],
      ['ExposedPorts', list(c.ExposedPorts)],
      ['Volumes', list(c.Volumes)],
    ]),
    c.Labels && Object.keys(c.Labels).length > 0 ? [h('h3', {}, 'Labels'), kv(Object.entries(c.Labels))] : null,
  );
}

function layersSection(layers, history) {
  // history has an entry per step; steps that made no layer (empty_layer) are skipped to pair them.
  const steps = (history ?? []).filter((s) => !s.empty_layer);
  return section(
    'layers-title',
    `Layers (${layers.length})`,
    h(
      'ol',
      { class: 'layers' },
      layers.map((l, i) =>
        h(
          'li',
          {},
          h('div', { class: 'layer-head' }, h('code', { title: l.digest }, shortDigest(l.digest)), h('span', { class: 'muted' }, l.mediaType), h('span', { class: 'size' }, bytes(l.size))),
          steps[i]?.created_by ? h('pre', { class: 'created-by' }, steps[i].created_by) : null,
        ),
      ),
    ),
  );
}

/** A platform's compressed size: its manifest, config and layers (read from the registry). */
function platformSize(name, descriptor) {
  const cell = h('td', { class: 'num' }, '…');
  api(`/v2/${enc(name)}/manifests/${descriptor.digest}`, { accept: MANIFEST_ACCEPT, scope: repoScope(name) }).then(
    (m) => replace(cell, bytes(descriptor.size + (m.config?.size ?? 0) + (m.layers ?? []).reduce((s, l) => s + l.size, 0))),
    () => replace(cell, bytes(descriptor.size)),
  );
  return cell;
}

async function showManifest(name, ref) {
  const isTag = !ref.includes(':');
  setCrumbs([
    [name, `#/r/${encodeURIComponent(name)}`],
    [isTag ? ref : shortDigest(ref), location.hash],
  ]);
  setTitle(`${name}${isTag ? `:${ref}` : `@${shortDigest(ref)}`}`);
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  let res;
  let access;
  try {
    [res, access] = await Promise.all([
      api(`/v2/${enc(name)}/manifests/${encodeURIComponent(ref)}`, { accept: MANIFEST_ACCEPT, scope: repoScope(name), raw: true }),
      api(`/v2/${enc(name)}/_ui/tags?n=1`, { scope: repoScope(name) }),
    ]);
  } catch (e) {
    if (e.status !== 401) replace(main, errorBox(e));
    return;
  }
  const text = await res.text();
  const digest = res.headers.get('Docker-Content-Digest');
  const mediaType = (res.headers.get('Content-Type') ?? '').split(';')[0];
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = {};
  }
  const kind = kindOf(mediaType);
  const parts = [];
  parts.push(
    h('div', { class: 'head' }, h('h1', {}, name, h('span', { class: 'ref' }, isTag ? `:${ref}` : `@${shortDigest(ref)}`))),
    h(
      'dl',
      { class: 'kv summary' },
      h('dt', {}, 'Digest'),
      h('dd', {}, h('code', {}, digest), ' ', copyButton(digest, 'Copy digest')),
      h('dt', {}, 'Media type'),
      h('dd', {}, h('code', {}, mediaType), doc.artifactType ? [' · artifact type ', h('code', {}, doc.artifactType)] : null),
      doc.subject ? [h('dt', {}, 'Subject'), h('dd', {}, h('a', { href: `#/r/${encodeURIComponent(name)}/m/${encodeURIComponent(doc.subject.digest)}` }, h('code', {}, shortDigest(doc.subject.digest))))] : null,
    ),
    pullCommands(name, isTag ? ref : undefined, digest),
  );
  if (kind === 'index') {
    parts.push(
      section(
        'platforms-title',
        'Platforms',
        h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'list', 'aria-label': 'Platforms' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Platform'), h('th', { scope: 'col' }, 'Manifest'), h('th', { scope: 'col', class: 'num' }, 'Size'))),
            h(
              'tbody',
              {},
              (doc.manifests ?? []).map((m) => {
                const p = m.platform ?? {};
                const attestation = m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || p.os === 'unknown';
                return h(
                  'tr',
                  {},
                  h('th', { scope: 'row' }, `${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? `/${p.variant}` : ''}`, attestation ? [' ', h('span', { class: 'badge artifact' }, 'attestation')] : null),
                  h('td', {}, h('a', { href: `#/r/${encodeURIComponent(name)}/m/${encodeURIComponent(m.digest)}` }, h('code', {}, shortDigest(m.digest)))),
                  platformSize(name, m),
                );
              }),
            ),
          ),
        ),
      ),
    );
  } else {
    let config;
    const cfg = doc.config;
    const isImageConfig = cfg && /image\.config|container\.image/.test(cfg.mediaType) && cfg.size < 4 * 1024 * 1024;
    if (isImageConfig) {
      try {
        config = await api(`/v2/${enc(name)}/blobs/${cfg.digest}`, { scope: repoScope(name) });
      } catch {
        config = undefined;
      }
    }
    if (config) parts.push(configSection(config));
    parts.push(layersSection(doc.layers ?? [], config?.history));
  }
  parts.push(annotationsSection(doc.annotations));
  const referrers = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  parts.push(section('referrers-title', 'Referrers', referrers));
  const actionsSlot = h('div');
  parts.push(actionsSlot);
  parts.push(h('details', { class: 'card raw' }, h('summary', {}, 'Raw manifest JSON'), h('pre', {}, JSON.stringify(doc, null, 2))));
  replace(main, parts);
  const tree = await referrersTree(name, digest);
  replace(referrers, tree);
  if (access.actions?.includes('delete')) replace(actionsSlot, deleteActions(name, ref, digest, tree?.querySelectorAll?.(':scope > li').length ?? 0));
}

// ---- Operations (admins): storage, garbage collection, retention dry run, mirror upstreams

function duration(ms) {
  if (ms === undefined || ms === null) return '—';
  const units = [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000]];
  for (const [u, n] of units) if (ms >= n && ms % n === 0) return `${intFmt.format(ms / n)} ${u}`;
  return ms >= 1000 ? `${numberFmt.format(ms / 1000)} s` : `${intFmt.format(ms)} ms`;
}

const percent = (x) => (x === undefined || x === null ? '—' : `${numberFmt.format(x * 100)} %`);

function table(label, head, rows, numeric = []) {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'list', 'aria-label': label },
      h('thead', {}, h('tr', {}, head.map((t, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : undefined }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', { class: numeric.includes(i) ? 'num' : undefined }, c)))))),
    ),
  );
}

function gcRunner(by) {
  if (!by) return '';
  return ` · by ${by.runner === 'scheduler' ? 'the scheduler' : 'stevedore gc'} on ${by.host}`;
}

function gcRunText(run) {
  if (!run) return h('span', { class: 'muted' }, 'none recorded');
  if (!run.ok) return [time(run.finishedAt), ' · ', h('strong', { class: 'bad' }, 'failed'), `: ${run.error ?? 'unknown error'}`, gcRunner(run.by)];
  const r = run.result ?? {};
  return [
    time(run.finishedAt),
    ` · freed ${bytes(r.bytesFreed)} in ${intFmt.format(r.blobsFreed ?? 0)} blobs; `,
    `${intFmt.format(r.manifestsDeleted ?? 0)} manifests and ${intFmt.format(r.tagsDeleted ?? 0)} tags deleted · took ${duration(r.durationMs)}`,
    gcRunner(run.by),
  ];
}

async function showOperations() {
  setCrumbs([['Operations', '#/ops']]);
  setTitle('Operations');
  replace(main, h('div', { class: 'head' }, h('h1', {}, 'Operations')), h('p', { class: 'muted' }, 'Loading… (reads the whole store: may take a while)'));
  let ops;
  try {
    ops = await api('/v2/_ui/operations', { scope: ADMIN_SCOPE });
  } catch (e) {
    if (e.status !== 401 || session.user !== undefined) replace(main, h('div', { class: 'head' }, h('h1', {}, 'Operations')), errorBox(e));
    return;
  }
  const { storage, gc, retention, mirror } = ops;
  replace(
    main,
    h('div', { class: 'head' }, h('h1', {}, 'Operations')),
    section('storage-title', 'Storage', kv([
      ['Used', h('span', { class: 'big' }, bytes(storage.bytes))],
      ['Blobs', intFmt.format(storage.blobs)],
      ['Driver', storage.driver],
      ['Measured', time(storage.measuredAt)],
    ])),
    section('gc-title', 'Garbage collection', kv([
      ['Schedule', gc.enabled ? `every ${duration(gc.intervalMs)}` : h('span', { class: 'muted' }, 'off (gc.enabled: false; run stevedore gc by hand)')],
      ['Last run', h('span', {}, gcRunText(gc.lastRun))],
      ['Next run', gc.running ? 'running now' : gc.nextRunAt ? time(gc.nextRunAt) : h('span', { class: 'muted' }, '—')],
      ['Grace period', duration(gc.gracePeriodMs)],
      ['Untagged manifests', gc.deleteUntagged ? 'deleted' : 'kept'],
    ])),
    section(
      'retention-title',
      'Retention policies',
      retention.policies.length === 0
        ? h('p', { class: 'muted' }, 'No retention policies (gc.retention).')
        : [
            table(
              'Retention policies',
              ['Repositories', 'Keep last', 'Keep tags', 'Older than', 'Protect', 'Would delete'],
              retention.policies.map((p) => [
                p.repositories.join(', '),
                p.keepLast ?? '—',
                p.keepTags?.length ? p.keepTags.join(', ') : '—',
                p.deleteOlderThan !== undefined ? duration(p.deleteOlderThan) : '—',
                p.protect?.length ? p.protect.join(', ') : '—',
                intFmt.format(p.wouldDelete),
              ]),
              [1, 5],
            ),
            h('h3', {}, `What they would delete now (dry run): ${intFmt.format(retention.total)} ${retention.total === 1 ? 'tag' : 'tags'}`),
            retention.total === 0
              ? h('p', { class: 'muted' }, 'Nothing.')
              : table(
                  'Tags retention would delete',
                  ['Tag', 'Digest', 'Pushed'],
                  retention.wouldDelete.map((d) => [
                    h('a', { href: `#/r/${encodeURIComponent(d.repository)}/m/${encodeURIComponent(d.tag)}` }, `${d.repository}:${d.tag}`),
                    h('code', { title: d.digest }, shortDigest(d.digest)),
                    time(d.pushedAt),
                  ]),
                ),
            retention.total > retention.wouldDelete.length ? h('p', { class: 'muted' }, `The first ${intFmt.format(retention.wouldDelete.length)} shown.`) : null,
          ],
    ),
    section(
      'mirror-title',
      'Mirror upstreams',
      !mirror.enabled
        ? h('p', { class: 'muted' }, 'No pull-through upstreams configured (mirror.upstreams).')
        : table(
            'Mirror upstreams',
            ['Upstream', 'Registry', 'Hit ratio', 'Hits', 'Misses', 'Served from cache', 'Fetched from upstream', 'Stale answers', 'Upstream errors'],
            mirror.upstreams.map((u) => [u.prefix, u.registry, percent(u.hitRatio), intFmt.format(u.hits), intFmt.format(u.misses), bytes(u.cacheBytesServed), bytes(u.upstreamBytes), intFmt.format(u.staleServed), intFmt.format(u.upstreamErrors)]),
            [2, 3, 4, 5, 6, 7, 8],
          ),
    ),
    h('p', { class: 'muted' }, 'Mirror counters since this server started. Storage and the dry run are measured at most once a minute.'),
  );
}

// ---- Routing: #/ (repositories), #/r/NAME, #/r/NAME/m/REF, #/ops

async function route() {
  if (session.mode !== 'none' && session.user === undefined) return showLogin();
  const hash = location.hash || '#/';
  if (!hash.startsWith('#/')) return;
  view++;
  const [path, query] = hash.slice(1).split('?');
  const m = /^\/r\/([^/]+)(?:\/m\/([^/]+))?$/.exec(path);
  main.setAttribute('aria-busy', 'true');
  try {
    if (path === '/ops') await showOperations();
    else if (m && m[2]) await showManifest(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    else if (m) await showRepository(decodeURIComponent(m[1]));
    else await showRepositories(new URLSearchParams(query ?? ''));
  } finally {
    main.removeAttribute('aria-busy');
  }
}

window.addEventListener('hashchange', () => {
  route().then(() => {
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  });
});
$('#skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});
document.addEventListener('keydown', (ev) => {
  if (ev.key === '/' && !/INPUT|TEXTAREA/.test(document.activeElement?.tagName ?? '')) {
    const f = $('#repo-filter');
    if (f) {
      ev.preventDefault();
      f.focus();
    }
  }
});

probe()
  .then(() => {
    renderSession();
    return route().then(checkAdmin);
  })
  .catch((e) => replace(main, errorBox(e)));

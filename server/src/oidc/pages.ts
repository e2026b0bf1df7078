import type { KoaContextWithOIDC } from 'oidc-provider';

// The few pages the provider renders itself (errors, an application's sign-out), in Roster's look:
// self-contained, with nothing loaded from elsewhere.

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Roster</title><style>body{font:16px system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f5f6f8;color:#1c2330}
main{max-width:26rem;padding:2rem;background:#fff;border:1px solid #dde1e8;border-radius:12px}h1{font-size:1.3rem;margin:0 0 .5rem}p{color:#5b6472}
.actions{display:flex;gap:.5rem;justify-content:flex-end;margin-top:1.25rem}button{font:inherit;font-weight:600;padding:.5rem 1rem;border-radius:8px;border:1px solid #2f5bd3;background:#2f5bd3;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1c2330;border-color:#c5cbd5}button:focus-visible{outline:3px solid #9db5f5;outline-offset:2px}
@media (prefers-color-scheme:dark){body{background:#12161d;color:#e6e9ef}main{background:#1b212b;border-color:#2c3442}p{color:#a3acba}button.secondary{background:#1b212b;color:#e6e9ef;border-color:#3a4454}}</style></head>
<body><main>${body}</main></body></html>`;
}

export function errorPage(error: string, description: string): string {
  return page('Sign-in failed', `<h1>The sign-in could not continue</h1><p>${escape(description || error)}</p><p><small>${escape(error)}</small></p>`);
}

/** An application asks to sign the person out (OpenID Connect RP-Initiated Logout): confirm first. */
export async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  const name = ctx.oidc.client?.clientName;
  ctx.type = 'html';
  ctx.body = page(
    'Sign out',
    `<h1>Sign out${name ? ` of ${escape(name)}` : ''}?</h1>
<p>This signs you out of every application you signed in to with Roster in this browser. You stay signed in to the Roster console.</p>
${form}<div class="actions"><button class="secondary" type="submit" form="op.logoutForm">Stay signed in</button>
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button></div>`,
  );
}

export async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  const name = ctx.oidc.client?.clientName;
  ctx.type = 'html';
  ctx.body = page('Signed out', `<h1>Signed out</h1><p>You are signed out${name ? ` of ${escape(name)}` : ''}.</p>`);
}

// Signing users in for the e2e tests: an account made through the sign-up
// page of a browser, and API calls that carry that browser's session cookie
// and this site as their Origin (as the app's own pages do).

export const PASSWORD = 'correct horse battery staple';

/** Signs up `username` in `page` (its browser keeps the cookie); returns the Cookie header for API calls. */
export async function signUp(page, base, username, password = PASSWORD) {
  await page.goto(`${base}/signup`);
  await page.fill('[data-testid=signup-form] input[name=username]', username);
  await page.fill('[data-testid=signup-form] input[name=password]', password);
  await page.click('[data-testid=signup-form] button[type=submit]');
  await page.waitForSelector('[data-testid=user]');
  return cookieHeader(page.context(), base);
}

export async function cookieHeader(context, base) {
  return (await context.cookies(base)).map((c) => `${c.name}=${c.value}`).join('; ');
}

/**
 * api(method, path, body, raw, headers) -> {status, json, text, headers} as
 * the user of `cookie` ('' for a signed-out client).
 */
export function apiAs(base, cookie) {
  const api = async (method, p, body, raw, headers = {}) => {
    const response = await fetch(`${base}${p}`, {
      method,
      headers: {
        origin: base,
        ...(cookie ? { cookie } : {}),
        ...(body === undefined && raw === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text, headers: response.headers };
  };
  api.cookie = cookie;
  return api;
}

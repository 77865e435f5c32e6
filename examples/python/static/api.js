// What both pages share: JSON calls to the story service (same origin, so the browser
// sends this site as Origin on writes, as the service requires).
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const fields = data.fields ? ': ' + Object.entries(data.fields).map(([k, v]) => `${k} ${v}`).join('; ') : '';
    const error = new Error((data.error || `HTTP ${response.status}`) + fields);
    error.status = response.status;
    throw error;
  }
  return data;
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

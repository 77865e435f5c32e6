// Request validation: every field error named, so a form can show it in place.
import type { ApprovalPayload, StoryInput } from '../story';

export type FieldErrors = Record<string, string>;
export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldErrors };

const INPUT_FIELDS = ['topic', 'author_style', 'pages', 'quality', 'approve_outline'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function integerIn(v: unknown, lo: number, hi: number, field: string, errors: FieldErrors): number {
  if (v === null || (typeof v === 'string' && v.trim() === '')) {
    errors[field] = `is empty: give a whole number from ${lo} to ${hi}`;
    return lo;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    errors[field] = `must be a whole number from ${lo} to ${hi}, got ${JSON.stringify(v) ?? 'nothing'}`;
    return lo;
  }
  if (v < lo || v > hi) errors[field] = `must be from ${lo} to ${hi}, got ${v}`;
  return v;
}

/** topic (1..300 chars), author_style (≤100, default "plain"), pages (1..20), quality (0..3, default 1), approve_outline (default false). */
export function checkStoryInput(body: unknown): Checked<StoryInput> {
  if (!isObject(body)) return { ok: false, errors: { body: 'must be a JSON object' } };
  const errors: FieldErrors = {};
  for (const key of Object.keys(body)) {
    if (!INPUT_FIELDS.includes(key)) errors[key] = `unknown field (expected one of ${INPUT_FIELDS.join(', ')})`;
  }
  const topic = typeof body.topic === 'string' ? body.topic.trim() : '';
  if (typeof body.topic !== 'string') errors.topic = 'is required: what the story is about';
  else if (topic === '') errors.topic = 'must not be empty';
  else if (topic.length > 300) errors.topic = `must be at most 300 characters, got ${topic.length}`;
  let style = 'plain';
  if (body.author_style !== undefined) {
    if (typeof body.author_style !== 'string') errors.author_style = 'must be a string';
    else if (body.author_style.trim().length > 100) errors.author_style = 'must be at most 100 characters';
    else style = body.author_style.trim() || 'plain';
  }
  const pages = body.pages === undefined ? ((errors.pages = 'is required: from 1 to 20'), 1) : integerIn(body.pages, 1, 20, 'pages', errors);
  const quality = body.quality === undefined ? 1 : integerIn(body.quality, 0, 3, 'quality', errors);
  if (body.approve_outline !== undefined && typeof body.approve_outline !== 'boolean') {
    errors.approve_outline = 'must be true or false';
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: { topic, author_style: style, pages, quality, approve_outline: body.approve_outline === true } };
}

/** {} approves as is; {outline: {title?, plans?: string[]}} approves with edits (one plan per page). */
export function checkApproval(body: unknown, pages: number): Checked<ApprovalPayload> {
  if (body === undefined || body === null) return { ok: true, value: { approved: true } };
  if (!isObject(body)) return { ok: false, errors: { body: 'must be a JSON object' } };
  const errors: FieldErrors = {};
  for (const key of Object.keys(body)) if (key !== 'outline') errors[key] = 'unknown field (expected outline)';
  const o = body.outline;
  if (o === undefined) return Object.keys(errors).length ? { ok: false, errors } : { ok: true, value: { approved: true } };
  if (!isObject(o)) return { ok: false, errors: { ...errors, outline: 'must be an object {title?, plans?}' } };
  for (const key of Object.keys(o)) if (key !== 'title' && key !== 'plans') errors[`outline.${key}`] = 'unknown field (expected title, plans)';
  if (o.title !== undefined && (typeof o.title !== 'string' || o.title.length > 200)) errors['outline.title'] = 'must be a string of at most 200 characters';
  if (o.plans !== undefined) {
    if (!Array.isArray(o.plans) || o.plans.some((p) => typeof p !== 'string' || p.length > 1000)) {
      errors['outline.plans'] = 'must be a list of strings (at most 1000 characters each)';
    } else if (o.plans.length !== pages) {
      errors['outline.plans'] = `must have one plan per page: ${pages}, got ${o.plans.length}`;
    }
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: { approved: true, outline: { title: o.title as string | undefined, plans: o.plans as string[] | undefined } },
  };
}

'use client';
// The live view: starts from the server's snapshot state, then follows the
// run's events after its last event id over SSE with storyloom/client's
// RunReader. Chunks are deduplicated by their byte offset, so a reload or
// reconnect shows every token exactly once, and a chunk of a new llm attempt
// (a retry, or the step executed again after the server died) replaces its
// stream's text instead of appending to it (story-state.ts).
import Link from 'next/link';
import { useEffect, useReducer, useState } from 'react';
import { RUN_FINISHED, storyTitle, writerNotice } from '@/lib/story';
import { RunReader } from 'storyloom/client';
import { applyEvent, pageStreams, pictureOf, STORY_EVENT_TYPES, type EventIn, type StoryState } from '@/lib/story-state';
import { BookDownloads, StoryPicture } from './StoryPicture';

const STAGE_TEXT: Record<string, string> = {
  queued: 'Queued',
  outline: 'Planning the outline',
  awaiting_approval: 'Waiting for your approval of the outline',
  writing: 'Writing',
  critique: 'Critiquing',
  revise: 'Revising',
  illustration: 'Briefing the illustration',
  picture: 'Drawing the pictures',
  done: 'Finished',
};

/** "page/2/revise/1" → "Page 2 — revision 1". */
function streamLabel(stream: string): string {
  const [, page, kind, round] = stream.split('/');
  if (stream === 'outline') return 'The outline';
  const what = { write: 'first draft', revise: `revision ${round}`, critique: `critique ${round}`, illustration: 'illustration brief' }[kind] ?? kind;
  return `Page ${page} — ${what}`;
}

function reducer(state: StoryState, events: EventIn[]): StoryState {
  return events.reduce(applyEvent, state);
}

function useStory(initial: StoryState) {
  const [state, dispatch] = useReducer(reducer, initial);
  const [connection, setConnection] = useState(RUN_FINISHED.includes(initial.status) ? 'closed' : 'connecting');
  useEffect(() => {
    if (RUN_FINISHED.includes(initial.status)) return;
    // storyloom/client's RunReader: EventSource with Last-Event-ID resume;
    // this page's reducer (story-state.ts) builds the story from its events.
    const reader = new RunReader(`/api/events/${initial.id}?after=${initial.lastEventId}`, {
      initial: { lastEventId: initial.lastEventId },
      eventTypes: STORY_EVENT_TYPES, // pictures that keep failing, image attempts
    });
    const offChange = reader.onChange((_view, events) => dispatch(events));
    const offConnection = reader.onConnection(setConnection);
    return () => {
      offChange();
      offConnection();
      reader.close();
    };
  }, [initial.id, initial.lastEventId, initial.status]);
  return { state, connection };
}

function ProgressBar({ state }: { state: StoryState }) {
  const p = state.progress;
  const total = Math.max(1, p.pagesTotal);
  const pct = (n: number) => `${(100 * n) / total}%`;
  return (
    <div className="panel" data-testid="progress">
      <div>
        {/* A stopped story says so; its stage is where it was stopped, not what it does. */}
        <strong data-testid="stage">
          {state.status === 'cancelled' ? 'Cancelled' : state.status === 'failed' ? 'Failed' : (STAGE_TEXT[p.stage] ?? p.stage)}
        </strong>
        {p.page && !RUN_FINISHED.includes(state.status) ? ` — page ${p.page}` : ''}
      </div>
      <div className="bar" aria-label={`${p.pagesCompleted} of ${p.pagesTotal} pages written`}>
        <div className="done" style={{ width: pct(p.pagesCompleted) }} />
        <div className="busy" style={{ width: pct(p.pagesInProgress) }} />
        <div className="failed" style={{ width: pct(p.pagesFailed) }} />
      </div>
      <div className="counts">
        <span data-testid="pages-done">{p.pagesCompleted} of {p.pagesTotal} pages done</span>
        <span data-testid="pages-in-progress">{p.pagesInProgress} in progress</span>
        <span data-testid="pages-failed">{p.pagesFailed} failed</span>
      </div>
      <div className="counts" data-testid="illustrations">
        <span data-testid="illustrations-done">{p.illustrationsDone} of {p.illustrationsTotal} pictures done</span>
        <span data-testid="illustrations-in-progress">{p.illustrationsInProgress} in progress</span>
        <span data-testid="illustrations-failed">{p.illustrationsFailed} failed</span>
      </div>
    </div>
  );
}

function ApprovalPanel({ state }: { state: StoryState }) {
  const outline = state.outline!;
  const [title, setTitle] = useState(outline.title);
  const [plans, setPlans] = useState(outline.pages.map((p) => p.plan));
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  async function send(withEdits: boolean) {
    setBusy(true);
    const response = await fetch(`/api/story/${state.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(withEdits ? { outline: { title, plans } } : {}),
    });
    const data = await response.json();
    setBusy(false);
    setMessage(response.ok ? 'Approved: the pages are being written.' : (data.error ?? JSON.stringify(data.errors)));
    // 409 {approved}: another tab or user approved first; the event stream closes this panel.
  }
  return (
    <section className="panel" data-testid="approval">
      <h2>Approve the outline</h2>
      <label>
        Title
        <input value={title} onChange={(e) => setTitle(e.target.value)} data-testid="outline-title" />
      </label>
      {plans.map((plan, i) => (
        <label key={i}>
          Page {i + 1}
          <textarea value={plan} data-testid={`outline-plan-${i + 1}`} onChange={(e) => setPlans(plans.map((p, j) => (j === i ? e.target.value : p)))} />
        </label>
      ))}
      <p>
        <button onClick={() => send(false)} disabled={busy}>Approve outline</button>{' '}
        <button className="secondary" onClick={() => send(true)} disabled={busy}>Approve with my edits</button>
      </p>
      {message && <p data-testid="approval-message">{message}</p>}
    </section>
  );
}

/** The text a page had when its story stopped: its last revision, else its first draft. */
function unfinishedText(state: StoryState, page: number): string {
  const streams = pageStreams(state, page).filter((s) => s.endsWith('/write') || s.includes('/revise/'));
  const last = streams.sort().at(-1);
  return last ? (state.streams[last]?.text ?? '') : '';
}

export function LiveStory({ initial }: { initial: StoryState }) {
  const { state, connection } = useStory(initial);
  const [cancelMessage, setCancelMessage] = useState('');
  const finished = RUN_FINISHED.includes(state.status);
  const p = state.progress;
  // Closed as soon as an approval arrives, from this tab or any other (the event stream says so).
  const waiting = state.status === 'waiting' && p.stage === 'awaiting_approval' && state.outline !== null && !state.approved;
  // While the pictures are drawn no text is being written.
  const active =
    state.activeStream && state.status === 'running' && p.stage !== 'picture' && !state.activeStream.includes('/critique/') ? state.activeStream : null;
  const title = storyTitle(state.story, state.outline, state.input);

  async function cancel() {
    const response = await fetch(`/api/story/${state.id}/cancel`, { method: 'DELETE' });
    const data = await response.json();
    setCancelMessage(response.ok ? 'Cancelling…' : data.error);
  }

  return (
    <div data-testid="live-story" data-status={state.status} data-last-event-id={state.lastEventId} data-gaps={state.gaps}>
      <h1>{title}</h1>
      <p>
        <span className={`status ${state.status}`} data-testid="status">{state.status}</span>{' '}
        <small>
          {state.input.pages} pages · quality {state.input.quality} · {state.input.author_style} · events: {connection}
        </small>
      </p>
      <p className="notice" data-testid="writer" data-language-model={String(state.writer.languageModel)}>
        {writerNotice(state.writer)}
      </p>
      <ProgressBar state={state} />
      {state.error && <p className="error" data-testid="run-error">{state.error}</p>}
      {!finished && (
        <p>
          <button className="danger" onClick={cancel} data-testid="cancel">Cancel story</button> {cancelMessage}
        </p>
      )}
      {state.status === 'completed' && (
        <>
          <p>
            <Link href={`/story/${state.id}/read`} data-testid="read-link">Read the finished story</Link>
          </p>
          <BookDownloads storyId={state.id} />
        </>
      )}
      {waiting && <ApprovalPanel state={state} />}
      {state.approved && state.input.approve_outline && !finished && p.stage === 'awaiting_approval' && (
        <p className="notice" data-testid="approved-notice">The outline was approved: the pages are being written.</p>
      )}
      {active && (
        <section className="panel" data-testid="now-writing" data-stream={active}>
          <h2>Now writing: {streamLabel(active)}</h2>
          <div className="writing">
            {state.streams[active]?.text}
            <span className="cursor">&nbsp;</span>
          </div>
        </section>
      )}
      {Array.from({ length: state.input.pages }, (_, i) => i + 1)
        .filter((n) => state.pages[n])
        .map((n) => (
          <article className="page" key={n} data-testid={`page-${n}`}>
            <h3>Page {n}</h3>
            {/* A story stopped before its pictures has none to wait for. */}
            {(pictureOf(state, n).kind !== 'pending' || !finished) && (
              <StoryPicture
                storyId={state.id}
                page={n}
                shown={pictureOf(state, n)}
                canRetry={state.status === 'completed'}
                drawing={state.status === 'running' && p.stage === 'picture' && p.page === n}
              />
            )}
            <div className="content" data-testid="page-content">{state.pages[n].content}</div>
            <div className="meta">
              {state.pages[n].critique && <div>Critique: {state.pages[n].critique}</div>}
              <div>Illustration: {state.pages[n].illustration}</div>
            </div>
          </article>
        ))}
      {finished && state.status !== 'completed' && p.page && !state.pages[p.page] && unfinishedText(state, p.page) && (
        <article className="page unfinished" data-testid={`page-${p.page}-unfinished`}>
          <h3>Page {p.page} (not finished)</h3>
          <div className="content">{unfinishedText(state, p.page)}</div>
        </article>
      )}
      <details className="streams">
        {/* Characters, not chunks: live chunks are single tokens, stored ones are coalesced, so a chunk count changes on reload. */}
        <summary data-testid="streams-summary">
          Generation streams ({Object.keys(state.streams).length}, {Object.values(state.streams).reduce((n, s) => n + s.text.length, 0)} characters)
        </summary>
        {Object.entries(state.streams).map(([name, s]) => (
          <div key={name}>
            <strong>{name}</strong>
            <pre data-stream={name} data-attempt-start={s.start}>{s.text}</pre>
          </div>
        ))}
      </details>
      <details>
        <summary>Event log ({state.log.length})</summary>
        <div className="log" data-testid="event-log">
          {state.log.map((e, i) => (
            <div key={`${e.id}-${i}`}>
              #{e.id} {e.type} {e.summary}
            </div>
          ))}
        </div>
      </details>
    </div>
  );
}

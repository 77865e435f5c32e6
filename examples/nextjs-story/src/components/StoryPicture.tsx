'use client';
// A page's picture as the live view and the reader show it: the picture
// itself (a versioned URL, cached for good), "no picture" with a button that
// retries that picture alone (once the story has finished), or a note that it
// is still to be drawn.
import { useState } from 'react';
import { pictureUrl } from '@/lib/story';

export type PictureShown = { kind: 'picture'; version: number } | { kind: 'none'; why: string } | { kind: 'pending' };

function RetryPicture({ storyId, page }: { storyId: string; page: number }) {
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  async function retry() {
    setBusy(true);
    const response = await fetch(`/api/story/${storyId}/picture/${page}/retry`, { method: 'POST' });
    const data = await response.json();
    if (response.ok) {
      // The story runs again from that picture: the live view follows it.
      window.location.assign(`/story/${storyId}`);
      return;
    }
    setBusy(false);
    setMessage(data.error ?? `retry failed (${response.status})`);
  }
  return (
    <>
      <button className="secondary" onClick={retry} disabled={busy} data-testid={`retry-picture-${page}`}>
        Retry this picture
      </button>
      {message && <small data-testid={`retry-picture-${page}-message`}> {message}</small>}
    </>
  );
}

export function StoryPicture({
  storyId,
  page,
  shown,
  canRetry,
  drawing = false,
}: {
  storyId: string;
  page: number;
  shown: PictureShown;
  canRetry: boolean;
  /** The live view says when this picture is the one being drawn. */
  drawing?: boolean;
}) {
  if (shown.kind === 'picture') {
    return (
      <figure className="picture">
        <img src={pictureUrl(storyId, page, shown.version)} alt={`Picture of page ${page}`} data-testid={`picture-${page}`} data-version={shown.version} />
      </figure>
    );
  }
  if (shown.kind === 'none') {
    return (
      <div className="picture none" data-testid={`no-picture-${page}`} title={shown.why}>
        <span>No picture</span>
        {shown.why && <small> — {shown.why}</small>} {canRetry && <RetryPicture storyId={storyId} page={page} />}
      </div>
    );
  }
  return (
    <div className="picture pending" data-testid={`picture-pending-${page}`}>
      <span>{drawing ? 'Drawing the picture…' : 'The picture is drawn after the text of every page.'}</span>
    </div>
  );
}

/** The finished story's downloads, written by the server from the book library. */
export function BookDownloads({ storyId }: { storyId: string }) {
  return (
    <p className="downloads">
      <a className="button" href={`/api/story/${storyId}/book?format=epub`} download data-testid="download-epub">
        Download EPUB
      </a>{' '}
      <a className="button" href={`/api/story/${storyId}/book?format=pdf`} download data-testid="download-pdf">
        Download PDF
      </a>
    </p>
  );
}

// The library: the signed-in user's stories, newest first.
import Link from 'next/link';
import { getEngine } from '@/lib/server/engine';
import { listStories } from '@/lib/server/stories';
import { pictureUrl } from '@/lib/story';
import { pageUser } from '@/lib/server/auth/page-user';

export const dynamic = 'force-dynamic';

export default async function LibraryPage() {
  const user = await pageUser('/stories');
  const stories = await listStories(await getEngine(), user.id);
  return (
    <>
      <h1>Library</h1>
      {stories.length === 0 ? (
        <p>
          No stories yet. <Link href="/">Write one</Link>.
        </p>
      ) : (
        <table className="library" data-testid="library">
          <thead>
            <tr>
              <th>Story</th>
              <th>Status</th>
              <th>Pages</th>
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {stories.map((s) => (
              <tr key={s.id} data-story-id={s.id}>
                <td>
                  {s.cover && (
                    <img className="cover" src={pictureUrl(s.id, s.cover.page, s.cover.version)} alt="" loading="lazy" data-testid="cover" />
                  )}{' '}
                  <Link href={s.status === 'completed' ? `/story/${s.id}/read` : `/story/${s.id}`}>{s.title}</Link>
                  <br />
                  <small>{s.author_style}</small>
                </td>
                <td>
                  <span className={`status ${s.status}`}>{s.status}</span>
                </td>
                <td>
                  {s.pagesCompleted}/{s.pages}
                </td>
                <td>
                  <small>{new Date(s.createdAtMs).toISOString().replace('T', ' ').slice(0, 19)} UTC</small>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

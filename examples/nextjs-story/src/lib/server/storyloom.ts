// Loads the storyloom package at run time with Node's own require.
//
// storyloom is a native addon, so Next.js must not bundle it: that is what
// `serverExternalPackages: ['storyloom']` in next.config.ts says, and it is
// enough for a registry install (node_modules/storyloom is a directory). This
// example depends on it as `file:../../node`, which npm installs as a symlink
// to a folder outside node_modules; both Turbopack and webpack then bundle
// the package anyway, and the addon's path breaks ("Cannot find module as
// expression is too dynamic"). A require the bundler does not follow keeps it
// external either way. Types come from the package as usual.
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Storyloom from 'storyloom';

const requireFromApp = createRequire(path.join(process.cwd(), 'package.json'));

export const { Engine, verifyWebhook, emailConfigured, sendEmail } = requireFromApp('storyloom') as typeof Storyloom;
export type Engine = Storyloom.Engine;

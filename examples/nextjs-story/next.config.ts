import path from 'node:path';
import type { NextConfig } from 'next';

// storyloom is a native addon: Next.js must load it with Node's require at
// run time instead of bundling it. It is linked from ../../node (a `file:`
// dependency), outside this folder, so the repository root is the root that
// Turbopack and output tracing may read from.
const root = path.join(__dirname, '..', '..');

const nextConfig: NextConfig = {
  serverExternalPackages: ['storyloom', '@node-rs/argon2'],
  turbopack: { root },
  outputFileTracingRoot: root,
};

export default nextConfig;

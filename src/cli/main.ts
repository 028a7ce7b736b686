#!/usr/bin/env -S node --initial-old-space-size=128
/**
 * `emms` command line: dispatches to one module per subcommand, loaded on demand so that
 * `emms detect` does not pay for starting the server's dependencies.
 */

interface Subcommand {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

// Each subcommand module exports `run(argv): Promise<exit code>` and prints its own --help.
const SUBCOMMANDS: Record<string, Subcommand> = {
  serve: { summary: 'run the HTTP/WebSocket server (storage: embedded SQLite, PostgreSQL or Redis)', load: () => import('./serve_command.js') },
  'import-audit': { summary: 'import a Vault or CloudTrail KMS audit trail as key events', load: () => import('./import_audit_command.js') },
  anonymize: { summary: 'print the stored (anonymized) form of a tag or key-event value under security.anonymize', load: () => import('./anonymize_command.js') },
  audit: { summary: 'verify the audit log\'s hash chain and checkpoints, or export its records', load: () => import('./audit_command.js') },
  backup: { summary: 'write a consistent backup archive of a data directory or a running server', load: () => import('./backup_command.js') },
  restore: { summary: 'restore a backup archive into a data directory (checksums verified first)', load: () => import('./restore_command.js') },
  cleanup: { summary: 'delete points older than an age (--older-than=90d)', load: () => import('./cleanup_command.js') },
  erase: { summary: 'delete selected points or a data subject, scrubbed from every file', load: () => import('./erase_command.js') },
  compact: { summary: 'merge small chunks and return free space to the file system', load: () => import('./compact_command.js') },
  reindex: { summary: "rebuild the store's indexes and chunk catalogue", load: () => import('./reindex_command.js') },
  apikey: { summary: 'create, list or revoke API keys of a data directory (server stopped or running)', load: () => import('./apikey_command.js') },
  detect: { summary: 'score a timestamp,value CSV with the streaming anomaly detectors', load: () => import('./detect_command.js') },
  deploy: { summary: 'write Dockerfile, compose, Kubernetes manifests or a systemd unit for a deployment', load: () => import('./deploy_command.js') },
  keygen: { summary: 'write a new master key for encryption at rest (32 random bytes, hex, mode 0600)', load: () => import('./keygen_command.js') },
  encryption: { summary: 'encryption at rest: status, rotate-master, rotate-data, verify', load: () => import('./encryption_command.js') },
  iforest: { summary: 'fit an isolation forest on a numeric CSV and write one score per row', load: () => import('./iforest_command.js') },
};

function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((n) => n.length));
  const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(width)}  ${s.summary}`);
  return `Usage: emms <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun \`emms <command> --help\` for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = SUBCOMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`emms: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`emms: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

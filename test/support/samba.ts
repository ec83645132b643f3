// A real, throw-away Active Directory for tests and the demo: Samba as an AD
// domain controller serving LDAP/LDAPS only, on its own loopback alias
// (127.0.0.N), seeded from test/fixtures/corp-directory.yaml.
//
// Start-up:
//  1. pick a free 127.0.0.N (ports 389/636 unused, not locked by another live
//     process) and add it to `lo` (Samba only listens on configured interfaces);
//  2. copy a cached template DC (provisioned + seeded + TLS keys generated + one
//     verified start), building it first when the cache has none for this
//     fixture/script/Samba version (~10-20 s cold);
//  3. write a per-run smb.conf (all paths point into the run's temp dir), start
//     `samba -i -M single` as a child in its own process group, and poll until an
//     LDAPS simple bind as the product's service account succeeds.
//     With `netns` (the cluster layer and the demo), samba runs inside that
//     network namespace on a 10.250.1.N of its own there, where the cluster's
//     pods reach it; the host reaches it at 127.0.0.N through relays
//     (test/support/netns-relay.ts), as it reaches the cluster's API server.
// stop() kills the process group, waits for the exit and removes the temp dir.
//
// Samba exits by itself when its stdin (a pipe from this process) closes, so a
// crashed test runner does not leave a DC behind.
//
// Needs root (port 389, `ip addr add`) and the Debian packages installed by
// scripts/samba/install.sh.
//
// Split by concern under test/support/samba/; this module is the entry point.
export * from './samba/types.ts';
export * from './samba/fixture.ts';
export * from './samba/ldif.ts';
export * from './samba/host.ts';
export * from './samba/server.ts';
export * from './samba/directory.ts';

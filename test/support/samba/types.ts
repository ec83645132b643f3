// The Samba test DC's public types: what a test gets to talk to the DC.

// ---------------------------------------------------------------------------
// public types

/** Everything a test needs to talk to the DC; plain data (vitest `provide`-able). */
export interface SambaADInfo {
  ip: string;
  /** ldap://IP:389 (Samba refuses simple binds here: strongAuthRequired). */
  ldapUrl: string;
  /** ldaps://IP:636 */
  ldapsUrl: string;
  /** PEM of the self-signed CA that issued the DC's certificate. */
  caPem: string;
  caPath: string;
  /** The name in the DC's certificate (use as TLS servername): dc1.corp.example.com */
  dcHostname: string;
  /** DC=corp,DC=example,DC=com */
  baseDN: string;
  /** CORP.EXAMPLE.COM */
  realm: string;
  /** corp.example.com */
  domain: string;
  /** CORP */
  netbiosDomain: string;
  /** svc-truetask@corp.example.com */
  bindUPN: string;
  /** CN=svc-truetask,OU=Service Accounts,DC=corp,DC=example,DC=com */
  bindDN: string;
  bindPassword: string;
  /** CN=Administrator,CN=Users,... (may write; only the test harness uses it). */
  adminDN: string;
  adminUPN: string;
  adminPassword: string;
  /** Accounts whose binds fail in AD-specific ways (sub-codes 533, 773, 775). */
  badAccounts: { disabled: BindAccount; mustChangePassword: BindAccount; locked: BindAccount };
  /** The fixture this DC was seeded from, and how many generated users it got in total. */
  fixturePath: string;
  generatedUsers: number;
  /** Run directory (temp): dc/ (the DC's files), samba.log unless logDir was given. Removed by stop(). */
  dir: string;
  logPath: string;
  timings: SambaTimings;
  /** With `netns`: the DC's address inside that namespace (what its clients there use). */
  inNetns?: { netns: string; ip: string; ldapUrl: string; ldapsUrl: string };
}

export interface BindAccount {
  dn: string;
  upn: string;
  password: string;
}

export interface SambaTimings {
  /** true: the DC was copied from a cached template. */
  fromCache: boolean;
  /** Only when a template/DC was built in this call. */
  provisionMs?: number;
  seedMs?: number;
  seedEntries?: number;
  /** Building the template incl. its verification start (cold only). */
  templateMs?: number;
  copyMs?: number;
  /** samba spawn until the first successful LDAPS bind. */
  startMs: number;
  totalMs: number;
  /** How the template was built (cold), also when it was copied from the cache. */
  template?: TemplateBuild;
}

export interface TemplateBuild {
  provisionMs: number;
  seedMs: number;
  seedEntries: number;
  /** Provision + seed + the verification start (TLS keys). */
  templateMs: number;
  builtAt: string;
}

export interface SambaAD extends SambaADInfo {
  /** Kills samba (process group), waits for its exit, removes `dir`. Idempotent. */
  stop(): Promise<void>;
  /** Settles when the samba process exits (for whatever reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartSambaOptions {
  /** 127.0.0.N to use; default: the first free one in 127.0.0.20..127.0.0.250. */
  ip?: string;
  fixturePath?: string;
  /** Generated users on top of the fixture's `generated.count` (benchmarks). */
  extraGeneratedUsers?: number;
  /** Where samba.log goes (kept after stop); default: inside the run dir. */
  logDir?: string;
  /** Use/refresh the template cache (default true). false: provision + seed in place. */
  cache?: boolean;
  /** Bound on samba start-up until the first LDAPS bind. Default 60 s. */
  startTimeoutMs?: number;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
  /**
   * The domain's account lockout policy: lock an account after this many bad
   * passwords (`samba-tool domain passwordsettings set --account-lockout-threshold`,
   * applied to this DC's copy of the database before it starts; other DCs keep
   * the default, no lockout). Lockouts then last `lockoutMinutes` (default 30).
   */
  lockoutThreshold?: number;
  lockoutMinutes?: number;
  /**
   * `ldap server require strong auth` (default true: simple binds on plain ldap://
   * are refused with strongAuthRequired, as AD does by default). false: plain binds
   * work, to prove the client never sends one without its opt-in.
   */
  requireStrongAuth?: boolean;
  /**
   * Run the DC inside this network namespace (`ip netns`), at a 10.250.1.N of its
   * own there (`inNetns`), for clients in the namespace (the cluster's pods). The
   * host still reaches it at ldapUrl/ldapsUrl (127.0.0.N): relays out of the
   * namespace (test/support/netns-relay.ts).
   */
  netns?: string;
}

// Which Samba share parameters a Phoenix file may set (`samba.shares[].options`). An allow-list,
// not a deny-list: Samba has ~150 share parameters and several run programs as root (`root
// preexec`, `preexec` alias `exec`, `postexec`, `magic script`, `dfree command`, `print command`)
// or widen what a share reaches (`path`/`directory`, `wide links`, `force user`, `admin users`,
// `vfs objects`, `msdfs root`, `include`, `copy`).
//
// Samba compares parameter names ignoring case and whitespace (lib/param's `strwicmp`: `ROOTPREEXEC`,
// `root  preexec` and `Root Preexec` are one parameter), and knows synonyms (`exec` = `preexec`,
// `writable` = inverse of `read only`). So a name is normalised the same way before the lookup,
// and every synonym of an allowed parameter is listed with it. Names and synonyms are taken from
// Samba 4.17's `testparm --show-all-parameters` ([local] section) and smb.conf(5);
// test/config/hardening.test.ts checks each against the installed testparm.
//
// features/hypervisor/samba_share.sh holds the same list (normalised) and checks again on the host;
// test/config/hardening.test.ts fails when the two lists differ.

/** Allowed share parameters: canonical name → synonyms (Samba's own spelling). */
const SAMBA_SHARE_PARAMETERS: Record<string, string[]> = {
  "browseable": ["browsable"],
  "read only": ["writeable", "writable", "write ok"],
  "guest ok": ["public"],
  "guest only": ["only guest"],
  "create mask": ["create mode"],
  "directory mask": ["directory mode"],
  "force create mode": [],
  "force directory mode": [],
  "comment": [],
  "available": [],
  "hide dot files": [],
  "hide files": [],
  "hide unreadable": [],
  "hide special files": [],
  "veto files": [],
  "delete veto files": [],
  "inherit permissions": [],
  "inherit acls": [],
  "inherit owner": [],
  "oplocks": [],
  "level2 oplocks": [],
  "strict locking": [],
  "locking": [],
  "posix locking": [],
  "case sensitive": ["casesignames"],
  "preserve case": [],
  "short preserve case": [],
  "default case": [],
  "mangled names": [],
  "ea support": [],
  "store dos attributes": [],
  "map archive": [],
  "map hidden": [],
  "map system": [],
  "map readonly": [],
  "nt acl support": [],
  "acl allow execute always": [],
  "acl map full control": [],
  "map acl inherit": [],
  "dos filemode": [],
  "delete readonly": [],
  "hosts allow": ["allow hosts"],
  "hosts deny": ["deny hosts"],
  "max connections": [],
  "read list": [],
  "write list": [],
  "invalid users": [],
  "csc policy": [],
  "strict sync": [],
  "sync always": [],
  "durable handles": [],
  "access based share enum": [],
  "server smb encrypt": ["smb encrypt"],
  "follow symlinks": [],
  "block size": [],
  "aio read size": [],
  "aio write size": [],
  "strict allocate": [],
  "hide new files timeout": [],
  "directory name cache size": [],
};

/** A parameter name as Samba compares it: lower case, whitespace removed (`Root Preexec` → `rootpreexec`). */
export function normaliseSambaName(name: string): string {
  return name.toLowerCase().replace(/\s+/g, "");
}

/** Every allowed name, normalised → canonical name. */
export const ALLOWED_SAMBA_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries(SAMBA_SHARE_PARAMETERS).flatMap(([canonical, synonyms]) =>
    [canonical, ...synonyms].map((n) => [normaliseSambaName(n), canonical] as [string, string]),
  ),
);

/** Names set elsewhere in the share definition (the message says where). */
const SET_ELSEWHERE: Record<string, string> = {
  path: "the share's path field",
  directory: "the share's path field",
  validusers: "the share's valid_users field",
};

/** Why `name` may not be set in a share's `options`; undefined when it is allowed. */
export function sambaOptionProblem(name: string): string | undefined {
  const n = normaliseSambaName(name);
  if (ALLOWED_SAMBA_NAMES.has(n)) return undefined;
  if (n in SET_ELSEWHERE) return `${name} is set by ${SET_ELSEWHERE[n]}, not in options`;
  const underscoreFree = n.replace(/_/g, "");
  if (n.includes("_") && ALLOWED_SAMBA_NAMES.has(underscoreFree)) {
    return `Samba has no parameter ${name}; write ${underscoreFree} (Samba ignores spaces in names, not underscores)`;
  }
  return `${name} is not an allowed share option (it may run programs or widen access); allowed: ${Object.keys(SAMBA_SHARE_PARAMETERS).map((k) => k.replace(/ /g, "")).join(", ")}`;
}

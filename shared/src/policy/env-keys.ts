/**
 * Variables a client may never set, whatever the policy's allow-list says: they choose what a
 * process loads or runs before the CLI's own code (dynamic loaders, interpreters, shells), where
 * it looks for programs and its own files, or asm's own settings.
 */
const ALWAYS_REFUSED: readonly RegExp[] = [
  /^LD_/, // glibc loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...
  /^DYLD_/, // macOS loader
  /^NODE_/, // NODE_OPTIONS (--require), NODE_PATH, NODE_EXTRA_CA_CERTS, ...
  /^NPM_CONFIG_/i,
  /^BASH_ENV$/,
  /^ENV$/,
  /^BASH_FUNC_/,
  /^SHELLOPTS$/,
  /^BASHOPTS$/,
  /^PS4$/,
  /^IFS$/,
  /^PROMPT_COMMAND$/,
  /^PYTHON/, // PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, ...
  /^PERL5/, // PERL5OPT, PERL5LIB
  /^PERLLIB$/,
  /^PERL_/,
  /^RUBYOPT$/,
  /^RUBYLIB$/,
  /^GEM_/,
  /^JAVA_TOOL_OPTIONS$/,
  /^_JAVA_OPTIONS$/,
  /^JDK_JAVA_OPTIONS$/,
  /^CLASSPATH$/,
  /^GCONV_PATH$/,
  /^LOCPATH$/,
  /^GLIBC_TUNABLES$/,
  /^MALLOC_/,
  /^GIT_/, // GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG_*, ...
  /^SSH_/,
  /^PATH$/,
  /^HOME$/,
  /^SHELL$/,
  /^TMPDIR$/,
  /^XDG_/,
  /^ASM_/, // asm's own settings (e.g. ASM_CLAUDE_CLI_PATH)
];

/** Whether `key` is one of the variables no client may set. */
export function isAlwaysRefusedEnvKey(key: string): boolean {
  return ALWAYS_REFUSED.some((pattern) => pattern.test(key));
}

/** An allow-list entry: an exact name, or a prefix ending in `*` (`MY_APP_*`). */
export const ENV_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

/** Whether `key` matches an entry of the allow-list. */
export function isEnvKeyAllowed(key: string, allow: readonly string[]): boolean {
  return allow.some((entry) => (entry.endsWith("*") ? key.startsWith(entry.slice(0, -1)) : key === entry));
}

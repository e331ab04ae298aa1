export { RunPolicy, BUILT_IN_ROLES, DEFAULT_CLIENT_PROVIDER_OPTIONS, type PolicyCheck } from "./run-policy.js";
export { PolicyFileSchema, RoleRulesSchema, loadPolicyFile, parsePolicy, type PolicyFile } from "./policy-file.js";
export { isAlwaysRefusedEnvKey, isEnvKeyAllowed } from "./env-keys.js";

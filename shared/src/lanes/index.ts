export * from "./provider-catalog.js";
export * from "./sdk-discovery.js";
export * from "./resolve-lane.js";
export * from "./run-needs.js";

export { startController, type ControllerApp, type StartOptions } from "./app.js";
export { loadControllerConfig, ControllerConfigSchema, type ControllerConfig } from "./config/controller-config.js";
export { Controller } from "./core/controller.js";

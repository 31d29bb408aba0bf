/** The Worker's entry: the Hono app for HTTP, and every Durable Object class the runtime must find. */
import { createApp } from "./app";

export { AdmissionObject, RunObject } from "../durable-objects/index";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

/** The Worker's entry: the Hono app for HTTP, and every Durable Object class the runtime must find. */
import { createApp } from "./app";

export { RunObject } from "../durable-objects/index";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

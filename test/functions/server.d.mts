import type { Server } from "node:http";
export function startTestFunctionServer(port: number): Promise<Server>;

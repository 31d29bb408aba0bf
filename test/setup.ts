import { registerTestPipelines } from "./helpers/test-pipelines";

registerTestPipelines();

/** The example pipelines that `npm run dev` serves. */
import sentences from "./sentences";
import sleep from "./sleep";
import wordStats from "./word-stats";

export const examplePipelines = [wordStats, sentences, sleep];

/**
 * Reads a manifest's YAML text and compiles it, turning every problem into one line that names the
 * file, the line and column, the path inside the manifest and the fix. Used at build time (the
 * manifests are bundled: a Worker cannot read files) and by `npx edgeserve validate`.
 */
import { isNode, LineCounter, parseDocument, type Document } from "yaml";
import { compileManifest, formatPath, type ManifestIssue, type Registry } from "./compile";
import type { Pipeline } from "../pipeline/graph";

export type LoadedManifest = { ok: true; manifest: unknown; pipeline: Pipeline } | { ok: false; errors: string[] };

export function loadManifest(file: string, text: string, registry: Registry): LoadedManifest {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const at = lines.linePos(e.pos[0]);
        return `${file}${at ? `:${at.line}:${at.col}` : ""}: not valid YAML: ${e.message.split("\n")[0]}. Fix: correct the YAML syntax at that line`;
      }),
    };
  }
  const manifest: unknown = doc.toJS();
  const compiled = compileManifest(manifest, registry);
  if (compiled.ok) return { ok: true, manifest, pipeline: compiled.pipeline };
  return { ok: false, errors: compiled.issues.map((issue) => describe(file, doc, lines, issue)) };
}

function describe(file: string, doc: Document, lines: LineCounter, issue: ManifestIssue): string {
  const position = positionOf(doc, lines, issue.path);
  return `${file}${position}: ${formatPath(issue.path)}: ${issue.message}${issue.fix ? `. Fix: ${issue.fix}` : ""}`;
}

/** `:line:col` of the deepest node on the path that exists in the document. */
function positionOf(doc: Document, lines: LineCounter, path: readonly (string | number)[]): string {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) {
      const { line, col } = lines.linePos(node.range[0]);
      return `:${line}:${col}`;
    }
  }
  return "";
}

// @ts-check
/** The input form, made from a pipeline's input JSON Schema: a field per property, else one JSON text area. */
import { html } from "./dom.js";

/**
 * @typedef {object} PropertySchema
 * @property {string} [type]
 */

/**
 * @param {HTMLFormElement} form
 * @param {Record<string, unknown>} schema
 */
export function renderForm(form, schema) {
  form.replaceChildren();
  const properties = schema.type === "object" && isRecord(schema.properties) ? schema.properties : null;
  if (!properties) {
    form.append(field("json", "input (JSON)", html("textarea", { "data-kind": "json" }, ["{}"])));
    return;
  }
  const required = Array.isArray(schema.required) ? schema.required : [];
  for (const [key, property] of Object.entries(properties)) {
    const type = isRecord(property) && typeof property.type === "string" ? property.type : "json";
    /** @type {HTMLInputElement | HTMLTextAreaElement} */
    let control;
    if (type === "string") control = html("textarea", { rows: "3" });
    else if (type === "number" || type === "integer") control = html("input", { type: "number", step: type === "integer" ? "1" : "any" });
    else if (type === "boolean") control = html("input", { type: "checkbox" });
    else control = html("textarea", {}, ["null"]);
    control.dataset.kind = type;
    form.append(field(key, key + (required.includes(key) ? " *" : ""), control));
  }
}

/**
 * The form's value as the run's input. Throws a SyntaxError for a JSON field that is not JSON.
 * @param {HTMLFormElement} form
 * @returns {unknown}
 */
export function readForm(form) {
  const controls = [...form.elements].filter((c) => c instanceof HTMLInputElement || c instanceof HTMLTextAreaElement);
  const only = controls[0];
  if (controls.length === 1 && only?.name === "json") return JSON.parse(only.value);
  /** @type {Record<string, unknown>} */
  const input = {};
  for (const control of controls) {
    const kind = control.dataset.kind;
    if (kind === "string") input[control.name] = control.value;
    else if (kind === "number" || kind === "integer") {
      if (control.value !== "") input[control.name] = Number(control.value);
    } else if (kind === "boolean" && control instanceof HTMLInputElement) input[control.name] = control.checked;
    else input[control.name] = JSON.parse(control.value);
  }
  return input;
}

/**
 * @param {string} name
 * @param {string} text
 * @param {HTMLInputElement | HTMLTextAreaElement} control
 */
function field(name, text, control) {
  control.name = name;
  control.id = `field-${name}`;
  return html("div", {}, [html("label", { for: control.id }, [text]), control]);
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isRecord(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

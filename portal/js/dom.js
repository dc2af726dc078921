// DOM building without HTML strings: every value from the API reaches the page as a text node or an
// attribute set through the DOM, so a hostile endpoint URL or response body is shown, never parsed.
// tests/portal/test_portal_static.py refuses every HTML- or code-parsing sink anywhere in portal/, and
// the CSP's Trusted Types make the browser refuse them too.

const SAFE_ATTRIBUTES = /^(?:aria-[a-z]+|data-[a-z-]+|id|class|role|type|name|for|href|value|min|max|step|rows|cols|placeholder|autocomplete|required|disabled|checked|selected|hidden|title|tabindex|scope|colspan|readonly|spellcheck|inputmode|pattern|maxlength|low|high|optimum|datetime|open|target|rel|lang)$/;

/** An element: h("td", {class: "x"}, "text", otherNode). Children: strings, numbers, nodes, arrays, null. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "href") {
      element.setAttribute("href", safeHref(String(value)));
    } else if (SAFE_ATTRIBUTES.test(name)) {
      element.setAttribute(name, value === true ? "" : String(value));
    } else {
      throw new Error(`attribute ${name} is not allowed`);
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

/** Only in-page (#...) and http(s) links: a javascript: URL from the API never becomes a link. */
export function safeHref(value) {
  if (value.startsWith("#")) return value;
  try {
    const url = new URL(value, window.location.href);
    if (url.protocol === "https:" || url.protocol === "http:") return url.href;
  } catch (_error) {
    // fall through
  }
  return "#";
}

/** Replace the children of ``element`` with ``children``. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A labelled form field; ``control`` gets an id the label points to. */
let fieldCount = 0;
export function field(label, control, hint) {
  fieldCount += 1;
  const id = control.id || `field-${fieldCount}`;
  control.id = id;
  const hintNode = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintNode);
}

export function time(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

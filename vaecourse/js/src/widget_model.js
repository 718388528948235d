// The anywidget model of a vaecourse widget (book/latent_space.md): references to the shared weight
// holders, and sending changes to a kernel when there is one.

export async function referencedModel(model, trait) {
  // The widget model a reference trait points at. The weights live in separate, shared widget models
  // (BrowserDecoder, BrowserEncoder in vaecourse/widgets/browser.py), so that two widgets on one page
  // carry them once; the trait holds "IPY_MODEL_<id>" (anywidget does not unpack references) or an
  // unpacked model.
  const ref = model.get(trait);
  const holder = typeof ref === "string"
    ? await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""))
    : ref;
  if (!holder) throw new Error(`vaecourse: the widget has no ${trait}`);
  return holder;
}

export function vaeSave(model) {
  // Send changes to a live kernel; on a static page there is no kernel and nothing to send.
  try {
    model.save_changes();
  } catch (error) {
    /* static page: no comm channel */
  }
}

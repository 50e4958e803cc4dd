//! Renders a widget into a PNG file, for the screenshot test hook and the UI tests.

use std::path::Path;

use anyhow::Context;
use gtk::prelude::*;

/// Draws `widget` as it is on screen now and saves it as a PNG at `path`.
///
/// Uses the widget's own renderer, so it works wherever the window is shown, including Xvfb
/// with `GSK_RENDERER=cairo`. The widget must be mapped and allocated.
pub fn save_widget_png(widget: &impl IsA<gtk::Widget>, path: &Path) -> anyhow::Result<()> {
    let widget = widget.as_ref();
    let (width, height) = (widget.width(), widget.height());
    anyhow::ensure!(
        widget.is_mapped() && width > 0 && height > 0,
        "the widget is not on screen yet"
    );
    let paintable = gtk::WidgetPaintable::new(Some(widget));
    let snapshot = gtk::Snapshot::new();
    paintable.snapshot(&snapshot, f64::from(width), f64::from(height));
    let node = snapshot.to_node().context("the widget drew nothing")?;
    let renderer = widget
        .native()
        .and_then(|native| native.renderer())
        .context("the widget has no renderer: it is not in a realized window")?;
    let viewport = gtk::graphene::Rect::new(0.0, 0.0, width as f32, height as f32);
    let texture = renderer.render_texture(&node, Some(&viewport));
    texture
        .save_to_png(path)
        .with_context(|| format!("could not write {}", path.display()))
}

/// Like [`save_widget_png`], retried over a few frames: a widget that was just invalidated
/// (live video does that all the time) has no render node until it is drawn again.
pub async fn save_widget_png_soon(
    widget: &impl IsA<gtk::Widget>,
    path: &Path,
) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..40 {
        match save_widget_png(widget, path) {
            Ok(()) => return Ok(()),
            Err(err) => last = Some(err),
        }
        glib::timeout_future(std::time::Duration::from_millis(25)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("the widget was never drawn")))
}

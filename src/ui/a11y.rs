//! Accessibility helpers: name icon-only controls for screen readers, and check a widget tree
//! for controls that a keyboard cannot reach or a screen reader cannot name.
//!
//! GTK 4.8 has no getter for accessible properties, so a label set through [`label`] is also
//! remembered in the widget's data; the check reads it back from there (and from the tooltip,
//! which every icon-only control carries as well).

use adw::prelude::*;

/// Where [`label`] remembers the accessible name.
const LABEL_KEY: &str = "roomtape-accessible-label";

/// Gives `widget` an accessible name (what a screen reader says for an icon-only control).
pub fn label(widget: &impl IsA<gtk::Widget>, text: &str) {
    let widget = widget.as_ref();
    widget.update_property(&[gtk::accessible::Property::Label(text)]);
    // SAFETY: the key is only ever used with a `String`, here and in `accessible_label`.
    unsafe {
        widget.set_data(LABEL_KEY, text.to_owned());
    }
}

/// The accessible name given through [`label`], if any.
pub fn accessible_label(widget: &gtk::Widget) -> Option<String> {
    // SAFETY: the key is only ever set to a `String`, in `label`.
    unsafe {
        widget
            .data::<String>(LABEL_KEY)
            .map(|text| text.as_ref().clone())
    }
}

/// Text a control shows itself: its own label or a label inside it (a button's content, a
/// view switcher's page title).
fn visible_text(widget: &gtk::Widget) -> Option<String> {
    let own = if let Some(button) = widget.downcast_ref::<gtk::Button>() {
        button.label().map(|l| l.to_string())
    } else if let Some(button) = widget.downcast_ref::<gtk::MenuButton>() {
        button.label().map(|l| l.to_string())
    } else {
        widget
            .downcast_ref::<gtk::Label>()
            .map(|label| label.label().to_string())
    };
    if let Some(text) = own.filter(|t| !t.trim().is_empty()) {
        return Some(text);
    }
    if widget.is::<gtk::DropDown>() {
        // A drop-down shows its selected item, which does not say what it chooses.
        return None;
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        if let Some(text) = visible_text(&c) {
            return Some(text);
        }
        child = c.next_sibling();
    }
    None
}

/// Whether the widget or one of its descendants takes keyboard focus.
fn reachable(widget: &gtk::Widget) -> bool {
    if widget.is_focusable() && widget.can_focus() {
        return true;
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        if reachable(&c) {
            return true;
        }
        child = c.next_sibling();
    }
    false
}

/// One control that fails a check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The GType name, e.g. `GtkToggleButton`.
    pub kind: String,
    /// Its icon, text, tooltip or widget name: enough to find it.
    pub what: String,
}

/// What [`audit`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Audit {
    /// Buttons, toggle buttons, menu buttons and drop-downs looked at.
    pub controls: usize,
    /// Controls with neither text of their own, nor an accessible label, nor a tooltip.
    pub unlabelled: Vec<Finding>,
    /// Visible, sensitive controls that no keyboard focus can reach.
    pub unreachable: Vec<Finding>,
}

fn describe(widget: &gtk::Widget) -> Finding {
    let icon = widget
        .downcast_ref::<gtk::Button>()
        .and_then(|b| b.icon_name())
        .or_else(|| {
            widget
                .downcast_ref::<gtk::MenuButton>()
                .and_then(|b| b.icon_name())
        })
        .map(|s| s.to_string());
    Finding {
        kind: widget.type_().name().to_owned(),
        what: icon
            .or_else(|| visible_text(widget))
            .or_else(|| widget.tooltip_text().map(|s| s.to_string()))
            .unwrap_or_else(|| widget.widget_name().to_string()),
    }
}

/// Walks `root`'s whole widget tree (shown or not) and checks every control.
pub fn audit(root: &impl IsA<gtk::Widget>) -> Audit {
    let mut audit = Audit::default();
    walk(root.as_ref(), &mut audit);
    audit
}

fn walk(widget: &gtk::Widget, audit: &mut Audit) {
    if widget.is::<gtk::WindowControls>() {
        // GTK names the title bar's close/minimise buttons itself and keeps them out of the
        // focus chain on purpose (Alt+F4 and the window manager's keys close a window).
        return;
    }
    let is_control = widget.is::<gtk::Button>()
        || widget.is::<gtk::MenuButton>()
        || widget.is::<gtk::DropDown>();
    // A menu button's own toggle button is named through the menu button.
    let inner = widget.is::<gtk::ToggleButton>()
        && widget
            .parent()
            .is_some_and(|p| p.is::<gtk::MenuButton>() || p.is::<gtk::DropDown>());
    if is_control && !inner {
        audit.controls += 1;
        let named = visible_text(widget).is_some()
            || accessible_label(widget).is_some_and(|l| !l.trim().is_empty())
            || widget.tooltip_text().is_some_and(|t| !t.trim().is_empty());
        if !named {
            audit.unlabelled.push(describe(widget));
        }
        if widget.is_visible() && widget.is_sensitive() && !reachable(widget) {
            audit.unreachable.push(describe(widget));
        }
        if !widget.is::<gtk::DropDown>() && !widget.is::<gtk::MenuButton>() {
            // A button's content is part of it.
            return;
        }
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        walk(&c, audit);
        child = c.next_sibling();
    }
}

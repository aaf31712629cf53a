//! The tray icon: the denials of the last minute at a glance (or, louder, that storage is
//! failing), the way back to the monitor when the window is closed, and Quit.

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

/// The tray icon's id.
pub const ID: &str = "tollgate";

/// The menu line that shows the count, or that storage is failing.
pub struct TrayCount<R: Runtime>(MenuItem<R>);

/// What the tray says instead of the count while the database refuses writes.
pub const STORAGE_FAILING: &str = "STORAGE FAILING — charges held in memory";

/// The count's wording, for the menu and the tooltip.
pub fn label(denials: usize) -> String {
    match denials {
        1 => "1 denial in the last minute".to_string(),
        n => format!("{n} denials in the last minute"),
    }
}

/// The menu's first line and the tooltip's text: a failing storage outranks the count.
pub fn headline(denials: usize, storage_failing: bool) -> String {
    if storage_failing { STORAGE_FAILING.to_string() } else { label(denials) }
}

/// Adds the tray icon. A desktop without a tray (no status notifier host) still gets the
/// window; closing it then quits, since nothing would bring it back.
pub fn create<R: Runtime>(app: &AppHandle<R>) {
    if let Err(e) = try_create(app) {
        tracing::warn!(error = %e, "no tray icon; closing the window will quit");
    }
}

fn try_create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let count = MenuItem::with_id(app, "denials", label(0), false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open-monitor", "Open the monitor", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Tollgate", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&count, &PredefinedMenuItem::separator(app)?, &open, &quit])?;
    let mut tray = TrayIconBuilder::with_id(ID).tooltip(format!("Tollgate: {}", label(0))).menu(&menu);
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.on_menu_event(|app, event| match event.id().as_ref() {
        "open-monitor" => open_monitor(app),
        "quit" => app.exit(0),
        _ => {}
    })
    .build(app)?;
    app.manage(TrayCount(count));
    Ok(())
}

/// Shows the count, or that storage is failing, in the menu and the tooltip.
pub fn show<R: Runtime>(app: &AppHandle<R>, denials: usize, storage_failing: bool) {
    let text = headline(denials, storage_failing);
    if let Some(count) = app.try_state::<TrayCount<R>>() {
        let _ = count.0.set_text(&text);
    }
    if let Some(tray) = app.tray_by_id(ID) {
        let _ = tray.set_tooltip(Some(format!("Tollgate: {text}")));
    }
}

/// Brings the window back on the live monitor.
pub fn open_monitor<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
        let _ = window.eval("location.hash = '#/'");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_count_reads_as_a_sentence() {
        assert_eq!(super::label(0), "0 denials in the last minute");
        assert_eq!(super::label(1), "1 denial in the last minute");
        assert_eq!(super::label(1200), "1200 denials in the last minute");
    }

    #[test]
    fn failing_storage_replaces_the_count() {
        assert_eq!(super::headline(3, false), "3 denials in the last minute");
        assert_eq!(super::headline(0, true), "STORAGE FAILING — charges held in memory");
        assert_eq!(super::headline(1200, true), super::STORAGE_FAILING);
    }
}

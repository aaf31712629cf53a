//! The tray icon: the denials of the last minute at a glance, the way back to the monitor
//! when the window is closed, and Quit.

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

/// The tray icon's id.
pub const ID: &str = "tollgate";

/// The menu line that shows the count.
pub struct TrayCount<R: Runtime>(MenuItem<R>);

/// The count's wording, for the menu and the tooltip.
pub fn label(denials: usize) -> String {
    match denials {
        1 => "1 denial in the last minute".to_string(),
        n => format!("{n} denials in the last minute"),
    }
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

/// Shows the count in the menu and the tooltip.
pub fn show_count<R: Runtime>(app: &AppHandle<R>, denials: usize) {
    let text = label(denials);
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
}

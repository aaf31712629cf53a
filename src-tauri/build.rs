//! Declares the app's own commands so capabilities must grant each one by name: the
//! window gets exactly what the dashboard uses.

fn main() {
    let commands = tauri_build::AppManifest::new().commands(&[
        "console",
        "subscribe",
        "unsubscribe",
        "load_demo",
        "app_ready",
        "connections",
        "connection_add",
        "connection_remove",
        "connection_use",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(commands)).expect("tauri build script");
}

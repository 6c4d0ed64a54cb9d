//! `import "lib/common" as c;`: modules come from the template's directory and nowhere else.
//!
//! Rhai's own `FileModuleResolver` follows absolute paths and `..` wherever they lead, so kiln
//! resolves imports itself: the path is relative to the template directory, `.rhai` is added
//! when it has no extension, and after `..` and symlinks are resolved it must still be inside
//! that directory. Errors inside a module name the module's file.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::module_resolvers::ModuleResolver;
use rhai::{Engine, EvalAltResult, Module, Position, Scope};

/// Rhai's shared module (an `Arc` under the `sync` feature).
type SharedModule = Arc<Module>;

use crate::diagnostic::Sources;

/// Resolves imports for one call, against one template directory.
pub(crate) struct TemplateModules {
    root: PathBuf,
    sources: Arc<Sources>,
    /// Each module is evaluated once per call, however often it is imported.
    loaded: Mutex<HashMap<String, SharedModule>>,
}

impl TemplateModules {
    pub(crate) fn new(root: &Path, sources: Arc<Sources>) -> Self {
        TemplateModules {
            // A directory that cannot be resolved admits no module at all (see `locate`).
            root: std::fs::canonicalize(root).unwrap_or_default(),
            sources,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The file an import names and the name errors use for it (`lib/common.rhai`), or why
    /// it is refused.
    fn locate(&self, import: &str) -> Result<(PathBuf, String), String> {
        let mut relative = PathBuf::new();
        for part in Path::new(import).components() {
            match part {
                Component::Normal(p) => relative.push(p),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !relative.pop() {
                        return Err(format!(
                            "module {import:?} is outside the template's directory"
                        ));
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(format!(
                        "module {import:?} is an absolute path; imports are relative to the template's directory"
                    ));
                }
            }
        }
        if relative.extension().is_none() {
            relative.set_extension("rhai");
        }
        let name = relative.to_string_lossy().replace('\\', "/");
        if self.root.as_os_str().is_empty() {
            return Err(format!(
                "module {import:?}: the template's directory is unreadable"
            ));
        }
        let path = self.root.join(&relative);
        // A symlink may point anywhere: check where the file (or, when it does not exist,
        // its directory) really is.
        let real = std::fs::canonicalize(&path)
            .or_else(|_| std::fs::canonicalize(path.parent().unwrap_or(&self.root)));
        if let Ok(real) = real
            && !real.starts_with(&self.root)
        {
            return Err(format!(
                "module {import:?} is outside the template's directory (it links to {})",
                real.display()
            ));
        }
        Ok((path, name))
    }
}

impl ModuleResolver for TemplateModules {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let (file, name) = self.locate(path).map_err(|message| -> Box<EvalAltResult> {
            EvalAltResult::ErrorRuntime(message.into(), pos).into()
        })?;
        if let Some(module) = self.loaded.lock().ok().and_then(|m| m.get(&name).cloned()) {
            return Ok(module);
        }
        let text: Arc<str> = match std::fs::read_to_string(&file) {
            Ok(text) => text.into(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EvalAltResult::ErrorModuleNotFound(name, pos).into());
            }
            Err(e) => {
                return Err(EvalAltResult::ErrorRuntime(
                    format!("cannot read module {name}: {e}").into(),
                    pos,
                )
                .into());
            }
        };
        self.sources.insert(&name, Arc::clone(&text));
        let in_module = |e: Box<EvalAltResult>| -> Box<EvalAltResult> {
            EvalAltResult::ErrorInModule(name.clone(), e, pos).into()
        };
        let mut ast = engine.compile(&*text).map_err(|e| in_module(e.into()))?;
        ast.set_source(name.as_str());
        let module: SharedModule = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(in_module)?
            .into();
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(name, module.clone());
        }
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_stay_inside_the_template_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/common.rhai"), "").unwrap();
        let modules = TemplateModules::new(dir.path(), Arc::default());
        let (path, name) = modules.locate("lib/common").unwrap();
        assert_eq!(name, "lib/common.rhai");
        assert!(path.ends_with("lib/common.rhai"));
        assert_eq!(
            modules.locate("lib/../lib/./common").unwrap().1,
            "lib/common.rhai"
        );
        assert!(modules.locate("../secret").is_err());
        assert!(modules.locate("/etc/passwd").is_err());
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.rhai"), "").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("x.rhai"), dir.path().join("x.rhai"))
            .unwrap();
        for escape in ["out/x", "out/missing", "x"] {
            let refused = modules.locate(escape).unwrap_err();
            assert!(
                refused.contains("outside the template's directory"),
                "{refused}"
            );
        }
    }
}

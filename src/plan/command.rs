//! `entrypoint` / `command` → the container's `command` / `args`, with every `$` doubled
//! because Kubernetes expands `$(VAR)` in them (compose already interpolated on the client).

use k8s_openapi::api::core::v1::Container;

use super::Planner;
use crate::compose::model::Service;

/// Doubles every `$` so Kubernetes passes the value through literally.
pub fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

fn escaped(list: &[String]) -> Vec<String> {
    list.iter().map(|s| escape(s)).collect()
}

impl Planner<'_> {
    /// Sets `command` (compose `entrypoint`) and `args` (compose `command`) on `c`.
    pub(super) fn command(&mut self, name: &str, svc: &Service, c: &mut Container) {
        match svc.entrypoint.as_deref() {
            Some([]) => self.warn(
                name,
                "entrypoint",
                "an empty entrypoint cannot be expressed in Kubernetes (an empty command means \
                 the image's ENTRYPOINT): the image's ENTRYPOINT is kept",
            ),
            Some(list) => c.command = Some(escaped(list)),
            None => {}
        }
        c.args = svc
            .command
            .as_deref()
            .filter(|l| !l.is_empty())
            .map(escaped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_doubled() {
        assert_eq!(escape("echo $HOME $$ $(x)"), "echo $$HOME $$$$ $$(x)");
    }
}

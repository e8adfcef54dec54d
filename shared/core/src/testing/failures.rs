//! Failure injection for the fakes: each fake holds a [`Failures`] that can be told to fail its
//! next calls (any method, or one named method) as a service that is down would. This is the only
//! scripted behaviour of the fakes; everything else is the port's documented semantics.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::ports::{MailError, StoreError};

/// Locks `m`, going on with the data of a poisoned lock: a test that panicked while holding it
/// has failed already, and the fakes' data is never left half-changed by a panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What an injected failure looks like to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The service is down: [`StoreError::Unavailable`], [`MailError::Unavailable`] (a photo read
    /// reports it as [`crate::ports::PhotoReadError::Store`]).
    Unavailable,
    /// A conditional write lost: [`StoreError::Conflict`] (a mailer reports
    /// [`MailError::Unavailable`]).
    Conflict,
    /// A mail service refused the message: [`MailError::Refused`] (a store reports
    /// [`StoreError::Unavailable`]).
    Refused,
}

impl Fault {
    /// The store error of this fault on `method`.
    pub fn store_error(self, method: &str) -> StoreError {
        match self {
            Fault::Conflict => StoreError::Conflict,
            Fault::Unavailable | Fault::Refused => {
                StoreError::Unavailable(format!("injected failure of {method}"))
            }
        }
    }

    /// The mail error of this fault on `method`.
    pub fn mail_error(self, method: &str) -> MailError {
        match self {
            Fault::Refused => MailError::Refused(format!("injected refusal of {method}")),
            Fault::Unavailable | Fault::Conflict => {
                MailError::Unavailable(format!("injected failure of {method}"))
            }
        }
    }
}

/// How many calls a rule still fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Times {
    Next(usize),
    Always,
}

/// Which calls a rule fails: after `skip` calls that pass, `times` calls with `fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    skip: usize,
    times: Times,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Plan {
    /// Fails the next calls of any method.
    any: Option<Rule>,
    /// Fails the next calls of one method (checked before `any`).
    methods: HashMap<&'static str, Rule>,
    /// Calls seen per method, failed ones included.
    calls: HashMap<&'static str, usize>,
    /// Calls failed so far.
    injected: usize,
}

/// The failures a fake is told to inject. Rules for one method are checked before the rule for
/// every method; a rule is used up call by call.
#[derive(Debug)]
pub struct Failures {
    /// The fake's method names (the names of its port's methods).
    methods: &'static [&'static str],
    plan: Mutex<Plan>,
}

impl Failures {
    /// Failure injection for a fake with these methods.
    pub fn new(methods: &'static [&'static str]) -> Self {
        Failures {
            methods,
            plan: Mutex::new(Plan::default()),
        }
    }

    fn known(&self, method: &str) -> &'static str {
        // A misspelt method would make a test that cannot fail: refuse it loudly.
        match self.methods.iter().find(|m| **m == method) {
            Some(m) => m,
            None => panic!(
                "no method {method:?} to fail; the methods are {:?}",
                self.methods
            ),
        }
    }

    /// Fails the next `n` calls, whatever the method, with [`Fault::Unavailable`].
    pub fn fail_next(&self, n: usize) {
        lock(&self.plan).any = Some(Rule {
            skip: 0,
            times: Times::Next(n),
            fault: Fault::Unavailable,
        });
    }

    /// Fails every call from now on with [`Fault::Unavailable`] (the service is down) until
    /// [`Failures::heal`].
    pub fn down(&self) {
        lock(&self.plan).any = Some(Rule {
            skip: 0,
            times: Times::Always,
            fault: Fault::Unavailable,
        });
    }

    /// Fails the next `n` calls of `method` with [`Fault::Unavailable`]. Panics if the fake has
    /// no such method.
    pub fn fail(&self, method: &str, n: usize) {
        self.fail_with(method, n, Fault::Unavailable);
    }

    /// Fails the next `n` calls of `method` with `fault`. Panics if the fake has no such method.
    pub fn fail_with(&self, method: &str, n: usize, fault: Fault) {
        self.fail_after(method, 0, n, fault);
    }

    /// Lets the next `skip` calls of `method` pass, then fails `n` calls with `fault` (a failure
    /// in the middle of a use case that calls `method` several times). Panics if the fake has no
    /// such method.
    pub fn fail_after(&self, method: &str, skip: usize, n: usize, fault: Fault) {
        let m = self.known(method);
        let rule = Rule {
            skip,
            times: Times::Next(n),
            fault,
        };
        lock(&self.plan).methods.insert(m, rule);
    }

    /// Fails every call of `method` with `fault` until [`Failures::heal`].
    pub fn fail_always(&self, method: &str, fault: Fault) {
        let m = self.known(method);
        let rule = Rule {
            skip: 0,
            times: Times::Always,
            fault,
        };
        lock(&self.plan).methods.insert(m, rule);
    }

    /// Forgets every rule: calls succeed again.
    pub fn heal(&self) {
        let mut p = lock(&self.plan);
        p.any = None;
        p.methods.clear();
    }

    /// How many calls of `method` were made (failed ones included).
    pub fn calls(&self, method: &str) -> usize {
        let m = self.known(method);
        lock(&self.plan).calls.get(m).copied().unwrap_or(0)
    }

    /// How many calls failed because of a rule.
    pub fn injected(&self) -> usize {
        lock(&self.plan).injected
    }

    /// Records a call of `method` and tells whether it must fail, and how. The fakes call it
    /// first in every method.
    pub fn enter(&self, method: &str) -> Option<Fault> {
        let m = self.known(method);
        let mut p = lock(&self.plan);
        *p.calls.entry(m).or_default() += 1;
        let fault = match p.methods.get_mut(m) {
            Some(rule) => use_up(rule),
            None => None,
        };
        let fault = match fault {
            Some(f) => Some(f),
            None => p.any.as_mut().and_then(use_up),
        };
        if fault.is_some() {
            p.injected += 1;
        }
        fault
    }

    /// [`Failures::enter`] for a store method: the injected failure as a [`StoreError`].
    pub fn store(&self, method: &str) -> Result<(), StoreError> {
        match self.enter(method) {
            Some(f) => Err(f.store_error(method)),
            None => Ok(()),
        }
    }

    /// [`Failures::enter`] for a mailer method: the injected failure as a [`MailError`].
    pub fn mail(&self, method: &str) -> Result<(), MailError> {
        match self.enter(method) {
            Some(f) => Err(f.mail_error(method)),
            None => Ok(()),
        }
    }
}

/// Uses one call of a rule: its fault, once the calls to let pass have passed and while it lasts.
fn use_up(rule: &mut Rule) -> Option<Fault> {
    if rule.skip > 0 {
        rule.skip -= 1;
        return None;
    }
    match rule.times {
        Times::Always => Some(rule.fault),
        Times::Next(0) => None,
        Times::Next(n) => {
            rule.times = Times::Next(n - 1);
            Some(rule.fault)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_used_up_call_by_call_and_named_ones_first() {
        let f = Failures::new(&["a", "b"]);
        assert_eq!(f.enter("a"), None);
        f.fail_next(2);
        f.fail_with("b", 1, Fault::Conflict);
        assert_eq!(f.enter("b"), Some(Fault::Conflict));
        assert_eq!(f.enter("b"), Some(Fault::Unavailable));
        assert_eq!(f.enter("a"), Some(Fault::Unavailable));
        assert_eq!(f.enter("a"), None);
        assert_eq!((f.calls("a"), f.calls("b"), f.injected()), (3, 2, 3));
        f.down();
        assert!(matches!(f.store("a"), Err(StoreError::Unavailable(_))));
        assert!(matches!(f.mail("b"), Err(MailError::Unavailable(_))));
        f.heal();
        assert!(f.store("a").is_ok());
        f.fail_after("a", 1, 1, Fault::Conflict);
        assert!(f.store("a").is_ok());
        assert!(matches!(f.store("a"), Err(StoreError::Conflict)));
        assert!(f.store("a").is_ok());
    }

    #[test]
    #[should_panic(expected = "no method")]
    fn a_misspelt_method_is_refused() {
        Failures::new(&["a"]).fail("x", 1);
    }
}

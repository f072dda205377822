//! Reading a property collector's answers without matching [`AnyValue`] by hand.

use crate::types::{
    AnyValue, FromAnyValue, ObjectContent, ObjectUpdate, PropertyChange, PropertyChangeOp,
};

impl PropertyChange {
    /// The new value, `None` when the property was removed or unset.
    pub fn value(&self) -> Option<&AnyValue> {
        match (&self.op, &self.val) {
            (PropertyChangeOp::Remove, _) | (_, None) | (_, Some(AnyValue::Null)) => None,
            (_, Some(v)) => Some(v),
        }
    }

    /// The new value as `T` (`None` when removed, unset or of another type).
    pub fn get<T: FromAnyValue>(&self) -> Option<T> {
        self.value().and_then(T::from_any_value)
    }
}

impl ObjectUpdate {
    /// The change of property `path` in this update, if it has one.
    pub fn change(&self, path: &str) -> Option<&PropertyChange> {
        self.change_set.iter().rev().find(|c| c.name == path)
    }

    /// The new value of `path` as `T`: `None` when this update does not change `path`,
    /// removed it, or holds another type.
    ///
    /// ```
    /// use vim25_core::types::{ObjectUpdate, PropertyChange, PropertyChangeOp, VirtualMachinePowerState};
    ///
    /// let update = ObjectUpdate {
    ///     change_set: vec![PropertyChange {
    ///         name: "runtime.powerState".into(),
    ///         op: PropertyChangeOp::Assign,
    ///         val: Some(vim25_core::types::AnyValue::Enum {
    ///             type_name: "VirtualMachinePowerState".into(),
    ///             value: "poweredOff".into(),
    ///         }),
    ///         ..Default::default()
    ///     }],
    ///     ..Default::default()
    /// };
    /// assert_eq!(update.get("runtime.powerState"), Some(VirtualMachinePowerState::PoweredOff));
    /// ```
    pub fn get<T: FromAnyValue>(&self, path: &str) -> Option<T> {
        self.change(path).and_then(PropertyChange::get)
    }
}

impl ObjectContent {
    /// The value of property `path` as `T` (`None` when not returned or of another
    /// type).
    pub fn get<T: FromAnyValue>(&self, path: &str) -> Option<T> {
        self.prop_set
            .iter()
            .find(|p| p.name == path)
            .and_then(|p| T::from_any_value(&p.val))
    }
}

//! Container and list views: server-side sets of objects a property collector can
//! traverse. A view is destroyed by [`ContainerView::destroy`] / [`ListView::destroy`],
//! or in the background when dropped inside a tokio runtime.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
//! use vim25::view::ContainerView;
//! let view = ContainerView::create(&client, &["HostSystem"], true).await?;
//! println!("{} hosts", view.objects().await?.len());
//! view.destroy().await?;
//! # Ok(()) }
//! ```

use crate::mo::AnyManagedObject;
use crate::property::Retrieval;
use crate::types::{
    ManagedObjectReference, ObjectSpec, PropertyFilterSpec, SelectionSpec, TraversalSpec,
};
use crate::{methods, Client, Error};

struct ViewRef {
    client: Client,
    view: ManagedObjectReference,
    kind: &'static str,
    destroyed: bool,
}

impl ViewRef {
    /// An object spec that starts at the view and selects every object in it.
    fn object_spec(&self) -> ObjectSpec {
        ObjectSpec {
            obj: self.view.clone(),
            skip: Some(true),
            select_set: vec![TraversalSpec {
                base_: SelectionSpec {
                    name: Some("view".into()),
                    ..Default::default()
                },
                type_: self.kind.into(),
                path: "view".into(),
                skip: Some(false),
                ..Default::default()
            }
            .into()],
            ..Default::default()
        }
    }

    async fn objects(&self) -> Result<Vec<ManagedObjectReference>, Error> {
        let spec = crate::property::spec_for_objects(
            self.kind,
            &["view"],
            std::slice::from_ref(&self.view),
        );
        let mut r = crate::property::Retrieval::new(
            self.client.clone(),
            self.client.property_collector(),
            vec![spec],
        );
        let mut out = Vec::new();
        while let Some(page) = r.next_page().await? {
            for o in page {
                for p in o.prop_set {
                    out.extend(p.val.references());
                }
            }
        }
        Ok(out)
    }

    async fn destroy(&mut self) -> Result<(), Error> {
        self.destroyed = true;
        let (c, v) = (&self.client, &self.view);
        crate::runtime::destroy_reliably(|| methods::destroy_view(c, v)).await
    }
}

impl Drop for ViewRef {
    fn drop(&mut self) {
        if self.destroyed {
            return;
        }
        let c = self.client.clone();
        let v = self.view.clone();
        crate::runtime::spawn_cleanup(async move {
            let _ = crate::runtime::destroy_reliably(|| methods::destroy_view(&c, &v)).await;
        });
    }
}

/// A view of the objects of some types below a container (recursively or not).
pub struct ContainerView {
    view: ViewRef,
    /// The types the view was created for (empty: every managed entity).
    types: Vec<String>,
}

impl ContainerView {
    /// A view of `types` below the root folder.
    pub async fn create(client: &Client, types: &[&str], recursive: bool) -> Result<Self, Error> {
        let root = client.service_content().root_folder.clone();
        Self::create_in(client, &root, types, recursive).await
    }

    /// A view of `types` (every managed entity when empty) below `container`.
    pub async fn create_in(
        client: &Client,
        container: &ManagedObjectReference,
        types: &[&str],
        recursive: bool,
    ) -> Result<Self, Error> {
        let vm = client
            .service_content()
            .view_manager
            .clone()
            .ok_or_else(|| {
                Error::NotSupported("no ViewManager, needed to create a ContainerView".into())
            })?;
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        let view =
            methods::create_container_view(client, &vm, container, &types, recursive).await?;
        Ok(ContainerView {
            view: ViewRef {
                client: client.clone(),
                view,
                kind: "ContainerView",
                destroyed: false,
            },
            types,
        })
    }

    /// The view's reference.
    pub fn reference(&self) -> &ManagedObjectReference {
        &self.view.view
    }

    /// An object spec selecting every object in the view.
    pub fn object_spec(&self) -> ObjectSpec {
        self.view.object_spec()
    }

    /// A filter spec reading `paths` of every object of type `kind` in the view.
    pub fn filter_spec(&self, kind: &str, paths: &[&str]) -> PropertyFilterSpec {
        PropertyFilterSpec {
            prop_set: vec![crate::property::property_spec(kind, paths)],
            object_set: vec![self.object_spec()],
            ..Default::default()
        }
    }

    /// The objects in the view now.
    pub async fn objects(&self) -> Result<Vec<ManagedObjectReference>, Error> {
        self.view.objects().await
    }

    /// Every object in the view, each as the `mo::` struct of its own type, with the
    /// properties `paths` (every property when empty) read for each of the view's
    /// types (for a view of every entity, as `ManagedEntity`): one paged retrieval for
    /// all types. Each path must exist on each type; for different paths per type use
    /// [`filter_spec`](Self::filter_spec) with [`Retrieval::collect_any`].
    ///
    /// ```no_run
    /// # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
    /// use vim25::mo::AnyManagedObject;
    /// use vim25::view::ContainerView;
    ///
    /// let view = ContainerView::create(&client, &["VirtualMachine", "HostSystem"], true).await?;
    /// for object in view.retrieve_any(&["name", "runtime"]).await? {
    ///     match object {
    ///         AnyManagedObject::VirtualMachine(vm) => println!("VM {:?}", vm.name),
    ///         AnyManagedObject::HostSystem(host) => println!("host {:?}", host.name),
    ///         other => println!("{}", other.type_name()),
    ///     }
    /// }
    /// view.destroy().await?;
    /// # Ok(()) }
    /// ```
    pub async fn retrieve_any(&self, paths: &[&str]) -> Result<Vec<AnyManagedObject>, Error> {
        let entity = ["ManagedEntity".to_string()];
        let types = if self.types.is_empty() {
            &entity[..]
        } else {
            &self.types[..]
        };
        let spec = PropertyFilterSpec {
            prop_set: types
                .iter()
                .map(|kind| crate::property::property_spec(kind, paths))
                .collect(),
            object_set: vec![self.object_spec()],
            ..Default::default()
        };
        let client = &self.view.client;
        let mut r = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
        Ok(r.collect_any().await?.objects)
    }

    /// Destroys the view.
    pub async fn destroy(mut self) -> Result<(), Error> {
        self.view.destroy().await
    }
}

/// A view of an explicit list of objects.
pub struct ListView(ViewRef);

impl ListView {
    /// A view of `objects`.
    pub async fn create(
        client: &Client,
        objects: &[ManagedObjectReference],
    ) -> Result<Self, Error> {
        let vm = client
            .service_content()
            .view_manager
            .clone()
            .ok_or_else(|| {
                Error::NotSupported("no ViewManager, needed to create a ListView".into())
            })?;
        let view = methods::create_list_view(client, &vm, objects).await?;
        Ok(ListView(ViewRef {
            client: client.clone(),
            view,
            kind: "ListView",
            destroyed: false,
        }))
    }

    /// The view's reference.
    pub fn reference(&self) -> &ManagedObjectReference {
        &self.0.view
    }

    /// An object spec selecting every object in the view.
    pub fn object_spec(&self) -> ObjectSpec {
        self.0.object_spec()
    }

    /// The objects in the view now.
    pub async fn objects(&self) -> Result<Vec<ManagedObjectReference>, Error> {
        self.0.objects().await
    }

    /// Adds objects; returns those the server could not add.
    pub async fn add(
        &self,
        objects: &[ManagedObjectReference],
    ) -> Result<Vec<ManagedObjectReference>, Error> {
        methods::modify_list_view(&self.0.client, &self.0.view, objects, &[]).await
    }

    /// Removes objects; returns those that were not in the view.
    pub async fn remove(
        &self,
        objects: &[ManagedObjectReference],
    ) -> Result<Vec<ManagedObjectReference>, Error> {
        methods::modify_list_view(&self.0.client, &self.0.view, &[], objects).await
    }

    /// Destroys the view.
    pub async fn destroy(mut self) -> Result<(), Error> {
        self.0.destroy().await
    }
}

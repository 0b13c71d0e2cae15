// SPDX-License-Identifier: GPL-2.0

//! configfs: kernel objects that user space creates with `mkdir` and
//! configures by writing attribute files.
//!
//! A driver registers a [`Subsystem`], which appears as a directory under
//! `/sys/kernel/config/`. Each `mkdir` in that directory asks the driver
//! for a new item ([`ItemOperations::make`]); the item's attributes are files
//! in the new directory, each implemented by one
//! [`AttributeOperations<ID>`] impl and listed, with [`attribute`], in the
//! static table [`ItemOperations::ATTRIBUTES`]; `rmdir` calls
//! [`ItemOperations::drop_item`] and the item is freed once the last open
//! file on it is closed.
//!
//! As upstream's configfs abstraction (6.15 onwards), with two additions:
//! an attribute declares its file mode (so a test-only attribute can be
//! root-only), and [`ItemRef::depend`] keeps an item from `rmdir` while it
//! is in use.
//!
//! C header: [`include/linux/configfs.h`](srctree/include/linux/configfs.h)

use crate::{
    alloc::{flags, KBox},
    bindings,
    error::{code::*, Error, Result},
    init::{InPlaceInit, PinInit},
    str::CStr,
    try_pin_init,
    types::Opaque,
    ThisModule,
};
use core::{marker::PhantomData, pin::Pin};
use macros::pin_data;

/// The most attributes one item type can have.
pub const MAX_ATTRIBUTES: usize = 16;

/// One attribute file of the items of type `C`: attribute `ID`.
///
/// Reading the file calls [`Self::show`] if the mode lets anyone read it;
/// writing it calls [`Self::store`] if the mode lets anyone write it.
pub trait AttributeOperations<const ID: usize>: ItemOperations {
    /// File name in the item's directory.
    const NAME: &'static CStr;

    /// File mode, e.g. `0o644` for read-write, `0o444` for read-only.
    const MODE: u16;

    /// Fill `page` (one page) with the text of the attribute, returning the
    /// number of bytes written.
    fn show(&self, _page: &mut [u8]) -> Result<usize> {
        Err(EINVAL)
    }

    /// Take `data` written to the attribute. Returning an error makes the
    /// `write(2)` fail with that errno.
    fn store(_this: ItemRef<'_, Self>, _data: &[u8]) -> Result {
        Err(EINVAL)
    }
}

/// An entry of [`ItemOperations::ATTRIBUTES`], made by [`attribute`].
pub struct Attribute {
    name: &'static CStr,
    mode: u16,
    show: ShowFn,
    store: StoreFn,
}

/// The table entry of attribute `ID` of items of type `C`.
pub const fn attribute<C: AttributeOperations<ID>, const ID: usize>() -> Attribute {
    Attribute {
        name: C::NAME,
        mode: C::MODE,
        show: ItemVTable::<C>::show::<ID>,
        store: ItemVTable::<C>::store::<ID>,
    }
}

/// What an item created by `mkdir` in a [`Subsystem`] can do.
pub trait ItemOperations: Send + Sync + Sized + 'static {
    /// Data the subsystem keeps for all its items, given to [`Self::make`].
    type Parent: Send + Sync + 'static;

    /// The attributes of every item, one [`attribute`] entry each (at most
    /// [`MAX_ATTRIBUTES`]).
    const ATTRIBUTES: &'static [Attribute];

    /// Create the item for `mkdir NAME`.
    fn make(parent: &Self::Parent, name: &CStr) -> Result<impl PinInit<Self, Error>>;

    /// Called on `rmdir`, before the item goes away. Open attribute files
    /// may still hold the item until they are closed.
    fn drop_item(&self) {}
}

/// An item as configfs sees it: the C group first, then the driver's data.
///
/// # Invariants
///
/// `group` was initialised with `config_group_init_type_name` and the item
/// type of the [`Subsystem`] that made this item. The item is owned by
/// configfs' reference count on `group.cg_item` and freed in
/// [`ItemVTable::release`].
#[repr(C)]
#[pin_data]
struct Item<C: ItemOperations> {
    group: Opaque<bindings::config_group>,
    #[pin]
    data: C,
}

/// An item, as given to [`ItemOperations::store`].
pub struct ItemRef<'a, C: ItemOperations>(&'a Item<C>);

impl<C: ItemOperations> core::ops::Deref for ItemRef<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0.data
    }
}

impl<C: ItemOperations> ItemRef<'_, C> {
    /// Make `rmdir` of this item fail with `EBUSY` until the returned
    /// [`Dependency`] is dropped, e.g. while the item is in use.
    pub fn depend(&self) -> Result<Dependency> {
        let group = self.0.group.get();
        // SAFETY: The item is live and linked into its subsystem (configfs is
        // calling one of its attribute callbacks), so `cg_subsys` is valid;
        // `configfs_depend_item_unlocked` is meant for callbacks of items of
        // the same subsystem.
        crate::error::to_result(unsafe {
            bindings::configfs_depend_item_unlocked((*group).cg_subsys, &raw mut (*group).cg_item)
        })?;
        // INVARIANT: the dependency was taken above.
        Ok(Dependency {
            // SAFETY: `group` is valid, see above.
            item: unsafe { &raw mut (*group).cg_item },
        })
    }
}

/// A dependency on an item: while it exists, `rmdir` of the item fails with
/// `EBUSY`, so the item stays alive.
///
/// # Invariants
///
/// `item` is a configfs item on which this value holds one dependency.
pub struct Dependency {
    item: *mut bindings::config_item,
}

// SAFETY: Dropping a dependency is allowed from any thread.
unsafe impl Send for Dependency {}
// SAFETY: `&Dependency` allows nothing.
unsafe impl Sync for Dependency {}

impl Drop for Dependency {
    fn drop(&mut self) {
        // SAFETY: By type invariant we hold a dependency on `item`, which
        // keeps it alive until this call.
        unsafe { bindings::configfs_undepend_item(self.item) };
    }
}

/// A configfs subsystem: a directory under `/sys/kernel/config/` in which
/// `mkdir` creates items of type `C`.
///
/// It is unregistered when dropped. configfs pins the owning module while
/// any item exists, so every item is gone by then.
pub struct Subsystem<C: ItemOperations> {
    inner: Pin<KBox<SubsystemInner<C>>>,
}

/// # Invariants
///
/// `su` is the first field, so a pointer to `su.su_group` is a pointer to
/// the whole structure. The structure is pinned and outlives every item.
#[repr(C)]
#[pin_data]
struct SubsystemInner<C: ItemOperations> {
    su: Opaque<bindings::configfs_subsystem>,
    subsys_type: Opaque<bindings::config_item_type>,
    item_type: Opaque<bindings::config_item_type>,
    group_ops: Opaque<bindings::configfs_group_operations>,
    item_ops: Opaque<bindings::configfs_item_operations>,
    attrs: [Opaque<bindings::configfs_attribute>; MAX_ATTRIBUTES],
    attr_ptrs: [*mut bindings::configfs_attribute; MAX_ATTRIBUTES + 1],
    #[pin]
    parent: C::Parent,
    _item: PhantomData<C>,
}

// SAFETY: After registration the C structures are only changed by configfs
// under its own locks; `parent` is `Send + Sync`.
unsafe impl<C: ItemOperations> Send for Subsystem<C> {}
// SAFETY: `&Subsystem` gives access only to `parent`, which is `Sync`.
unsafe impl<C: ItemOperations> Sync for Subsystem<C> {}

fn zeroed<T>() -> Opaque<T> {
    // SAFETY: All the configfs C structures used here are valid when zeroed
    // (null pointers, `None` callbacks); each is initialised before use.
    Opaque::new(unsafe { core::mem::zeroed() })
}

impl<C: ItemOperations> Subsystem<C> {
    /// Register `/sys/kernel/config/NAME` for `module`.
    pub fn register(
        module: &'static ThisModule,
        name: &'static CStr,
        parent: impl PinInit<C::Parent, Error>,
    ) -> Result<Self> {
        if C::ATTRIBUTES.len() > MAX_ATTRIBUTES {
            return Err(EINVAL);
        }
        let inner = KBox::pin_init(
            try_pin_init!(SubsystemInner::<C> {
                su: zeroed(),
                subsys_type: zeroed(),
                item_type: zeroed(),
                group_ops: zeroed(),
                item_ops: zeroed(),
                attrs: [const { Opaque::uninit() }; MAX_ATTRIBUTES],
                attr_ptrs: [core::ptr::null_mut(); MAX_ATTRIBUTES + 1],
                parent <- parent,
                _item: PhantomData,
            }? Error),
            flags::GFP_KERNEL,
        )?;

        // SAFETY: The structure is pinned in its final place and not yet
        // visible to configfs, so we have exclusive access. We only write
        // through raw pointers and never move it.
        unsafe {
            let inner =
                Pin::get_ref(inner.as_ref()) as *const SubsystemInner<C> as *mut SubsystemInner<C>;
            let owner = module.as_ptr();
            for (i, a) in C::ATTRIBUTES.iter().enumerate() {
                let attr = (*inner).attrs[i].get();
                attr.write(bindings::configfs_attribute {
                    ca_name: a.name.as_char_ptr(),
                    ca_owner: owner,
                    ca_mode: a.mode,
                    show: (a.mode & 0o444 != 0).then_some(a.show),
                    store: (a.mode & 0o222 != 0).then_some(a.store),
                });
                (*inner).attr_ptrs[i] = attr;
            }

            (*inner)
                .item_ops
                .get()
                .write(bindings::configfs_item_operations {
                    release: Some(ItemVTable::<C>::release),
                    allow_link: None,
                    drop_link: None,
                });
            (*inner)
                .group_ops
                .get()
                .write(bindings::configfs_group_operations {
                    make_item: None,
                    make_group: Some(ItemVTable::<C>::make_group),
                    disconnect_notify: None,
                    drop_item: Some(ItemVTable::<C>::drop_item),
                    is_visible: None,
                    is_bin_visible: None,
                });
            (*inner).item_type.get().write(bindings::config_item_type {
                ct_owner: owner,
                ct_item_ops: (*inner).item_ops.get(),
                ct_group_ops: core::ptr::null_mut(),
                ct_attrs: (*inner).attr_ptrs.as_mut_ptr(),
                ct_bin_attrs: core::ptr::null_mut(),
            });
            (*inner)
                .subsys_type
                .get()
                .write(bindings::config_item_type {
                    ct_owner: owner,
                    ct_item_ops: core::ptr::null_mut(),
                    ct_group_ops: (*inner).group_ops.get(),
                    ct_attrs: core::ptr::null_mut(),
                    ct_bin_attrs: core::ptr::null_mut(),
                });

            let su = (*inner).su.get();
            bindings::config_group_init_type_name(
                &raw mut (*su).su_group,
                name.as_char_ptr(),
                (*inner).subsys_type.get(),
            );
            bindings::__mutex_init(
                &raw mut (*su).su_mutex,
                c"configfs_subsystem".as_ptr().cast(),
                crate::static_lock_class!().as_ptr(),
            );
            crate::error::to_result(bindings::configfs_register_subsystem(su))?;
        }
        Ok(Self { inner })
    }

    /// The data shared by all items.
    pub fn parent(&self) -> &C::Parent {
        &self.inner.parent
    }
}

impl<C: ItemOperations> Drop for Subsystem<C> {
    fn drop(&mut self) {
        // SAFETY: The subsystem was registered in `register`. No item
        // exists: each one holds a reference on the module that owns `self`.
        unsafe { bindings::configfs_unregister_subsystem(self.inner.su.get()) };
    }
}

type ShowFn = unsafe extern "C" fn(*mut bindings::config_item, *mut crate::ffi::c_char) -> isize;
type StoreFn =
    unsafe extern "C" fn(*mut bindings::config_item, *const crate::ffi::c_char, usize) -> isize;

/// The C callbacks of items of type `C`.
struct ItemVTable<C: ItemOperations>(PhantomData<C>);

impl<C: ItemOperations> ItemVTable<C> {
    /// The item that embeds `item`.
    ///
    /// # Safety
    ///
    /// `item` must be the `cg_item` of the group of a live [`Item<C>`].
    unsafe fn item<'a>(item: *mut bindings::config_item) -> &'a Item<C> {
        // SAFETY: `cg_item` is the first field of `config_group`, which is
        // the first field of the `repr(C)` `Item<C>`; the item is live.
        unsafe { &*item.cast::<Item<C>>() }
    }

    /// # Safety
    ///
    /// Called by configfs with `group` the group of a subsystem registered
    /// by [`Subsystem::register`] for `C`, and a NUL-terminated `name`.
    unsafe extern "C" fn make_group(
        group: *mut bindings::config_group,
        name: *const crate::ffi::c_char,
    ) -> *mut bindings::config_group {
        // SAFETY: `su_group` is the first field of `su`, the first field of
        // the pinned, live `SubsystemInner<C>` (type invariant).
        let inner = unsafe { &*group.cast::<SubsystemInner<C>>() };
        // SAFETY: configfs passes a valid NUL-terminated name.
        let name = unsafe { CStr::from_char_ptr(name) };
        let init = match C::make(&inner.parent, name) {
            Ok(init) => init,
            Err(e) => return e.to_ptr(),
        };
        let item = KBox::pin_init(
            try_pin_init!(Item::<C> {
                group: Opaque::uninit(),
                data <- init,
            }? Error),
            flags::GFP_KERNEL,
        );
        let item = match item {
            Ok(item) => item,
            Err(e) => return e.to_ptr(),
        };
        // SAFETY: configfs now owns the item through its reference count and
        // gives it back in `release`; it is never moved.
        let item = KBox::into_raw(unsafe { Pin::into_inner_unchecked(item) });
        // SAFETY: `item` is valid; the group is zeroed (configfs frees a
        // non-null old name) and initialised with our item type, which lives
        // as long as the subsystem.
        unsafe {
            let group = (*item).group.get();
            core::ptr::write_bytes(group, 0, 1);
            bindings::config_group_init_type_name(group, name.as_char_ptr(), inner.item_type.get());
            group
        }
    }

    /// # Safety
    ///
    /// Called by configfs on `rmdir` of an item made by `make_group`.
    unsafe extern "C" fn drop_item(
        _group: *mut bindings::config_group,
        item: *mut bindings::config_item,
    ) {
        // SAFETY: `item` belongs to a live `Item<C>` (we still hold the
        // reference that `config_item_put` drops below).
        unsafe { Self::item(item) }.data.drop_item();
        // SAFETY: Drop the reference that `make_group` gave configfs.
        unsafe { bindings::config_item_put(item) };
    }

    /// # Safety
    ///
    /// Called by configfs when the last reference on `item` is gone.
    unsafe extern "C" fn release(item: *mut bindings::config_item) {
        // SAFETY: The item came from `KBox::into_raw` in `make_group` and
        // nobody uses it any more.
        drop(unsafe { KBox::from_raw(item.cast::<Item<C>>()) });
    }

    /// configfs does not tell a callback which attribute it serves, so each
    /// attribute `ID` gets its own instance of the callback.
    ///
    /// # Safety
    ///
    /// Called by configfs for attribute `ID` of a live item, with `page` a
    /// writable buffer of one page.
    unsafe extern "C" fn show<const ID: usize>(
        item: *mut bindings::config_item,
        page: *mut crate::ffi::c_char,
    ) -> isize
    where
        C: AttributeOperations<ID>,
    {
        // SAFETY: See the safety requirements.
        let item = unsafe { Self::item(item) };
        // SAFETY: configfs gives a page-sized buffer that nothing else uses.
        let page =
            unsafe { core::slice::from_raw_parts_mut(page.cast::<u8>(), bindings::PAGE_SIZE) };
        match <C as AttributeOperations<ID>>::show(&item.data, page) {
            Ok(len) => len.min(bindings::PAGE_SIZE) as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by configfs for attribute `ID` of a live item, with `count`
    /// readable bytes at `page`.
    unsafe extern "C" fn store<const ID: usize>(
        item: *mut bindings::config_item,
        page: *const crate::ffi::c_char,
        count: usize,
    ) -> isize
    where
        C: AttributeOperations<ID>,
    {
        // SAFETY: See the safety requirements.
        let item = unsafe { Self::item(item) };
        // SAFETY: configfs gives `count` readable bytes.
        let data = unsafe { core::slice::from_raw_parts(page.cast::<u8>(), count) };
        match <C as AttributeOperations<ID>>::store(ItemRef(item), data) {
            Ok(()) => count as isize,
            Err(e) => e.to_errno() as isize,
        }
    }
}

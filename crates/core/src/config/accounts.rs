//! User and group names or ids (`files_uid`, `files_gid`, `drop_privileges_user`,
//! `drop_privileges_group`), looked up through the C library, so NSS sources count.

use std::ffi::{CStr, CString};

/// A user: its id and its primary group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// A user name or a numeric uid.
pub fn user(raw: &str) -> Result<User, String> {
    let found = match raw.parse::<u32>() {
        Ok(uid) => passwd_by_uid(uid),
        Err(_) => passwd_by_name(raw)?,
    };
    match found {
        Some(u) => Ok(u),
        // A numeric id without an entry is still a valid owner (as chown(1) allows).
        None => match raw.parse::<u32>() {
            Ok(uid) => Ok(User {
                name: raw.to_string(),
                uid,
                gid: uid,
            }),
            Err(_) => Err(format!("no such user '{raw}'")),
        },
    }
}

/// A group name or a numeric gid.
pub fn group(raw: &str) -> Result<u32, String> {
    if let Ok(gid) = raw.parse::<u32>() {
        return Ok(gid);
    }
    let name = CString::new(raw).map_err(|_| format!("no such group '{raw}'"))?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero `group` is a valid value for the out-parameter.
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer refers to live memory of the given size; getgrnam_r writes only
    // into `entry` and `buf` and sets `result` to `&entry` or null.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(format!("no such group '{raw}'"));
    }
    Ok(entry.gr_gid)
}

fn passwd_by_name(raw: &str) -> Result<Option<User>, String> {
    let name = CString::new(raw).map_err(|_| format!("no such user '{raw}'"))?;
    // SAFETY: see `lookup_passwd`; `name` is a NUL-terminated string that outlives the call.
    Ok(unsafe {
        lookup_passwd(|pw, buf, len, result| libc::getpwnam_r(name.as_ptr(), pw, buf, len, result))
    })
}

fn passwd_by_uid(uid: u32) -> Option<User> {
    // SAFETY: see `lookup_passwd`.
    unsafe { lookup_passwd(|pw, buf, len, result| libc::getpwuid_r(uid, pw, buf, len, result)) }
}

/// Runs a getpw*_r call with its out-parameters and copies what it found.
///
/// # Safety
/// `call` must be a getpw*_r function that writes only into the buffers it is given.
unsafe fn lookup_passwd(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> i32,
) -> Option<User> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: an all-zero `passwd` is a valid value for the out-parameter.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = call(&mut entry, buf.as_mut_ptr().cast(), buf.len(), &mut result);
    if rc != 0 || result.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
    let name = unsafe { CStr::from_ptr(entry.pw_name) }
        .to_string_lossy()
        .into_owned();
    Some(User {
        name,
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_by_name_and_by_id() {
        let by_name = user("root").expect("root");
        assert_eq!((by_name.uid, by_name.gid), (0, 0));
        assert_eq!(user("0").expect("uid 0").name, "root");
        assert_eq!(group("root"), Ok(0));
        assert_eq!(group("0"), Ok(0));
    }

    #[test]
    fn unknown_names_are_errors_and_bare_ids_are_accepted() {
        assert_eq!(
            user("no-such-user-x"),
            Err("no such user 'no-such-user-x'".into())
        );
        assert_eq!(
            group("no-such-group-x"),
            Err("no such group 'no-such-group-x'".into())
        );
        assert_eq!(user("a\0b"), Err("no such user 'a\0b'".into()));
        let unnamed = user("4000000").expect("bare uid");
        assert_eq!((unnamed.uid, unnamed.gid), (4_000_000, 4_000_000));
    }
}

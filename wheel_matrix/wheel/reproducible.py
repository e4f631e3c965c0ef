"""The last step of every build: the wheel written again, as a function of its files only.

auditwheel already orders its members and dates them from SOURCE_DATE_EPOCH,
but it takes each member's mode from the files it unpacked (so from the
checkout's and the build user's umask) and writes directory entries with
theirs. ``finalize`` adds the build information and writes the archive once
more, so that nothing but the files' names, bytes and executable bits shapes
it: members in one order (packages, then .dist-info, RECORD last), no
directory entries, every timestamp the commit's date, modes 0644 or 0755, a
fresh RECORD, deflate at zlib's default level. It runs on the host for both
backends, so a container build and a host build of the same files are the
same bytes.

``differences`` is the other half of checking that: which members of two
wheels differ, for a rebuild that did not come out identical.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import zipfile
from pathlib import Path

from wheel_matrix.errors import UserError
from wheel_matrix.wheel import build_info
from wheel_matrix.wheel.build_info import BuildInfo
from wheel_matrix.wheel.facts import ZIP_ERRORS

ZIP_EPOCH = 315532800  # 1980-01-01: a zip timestamp can't say anything earlier


def zip_date(epoch: int) -> tuple[int, int, int, int, int, int]:
    year, month, day, hour, minute, second = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    return (year, month, day, hour, minute, second)


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _order(name: str) -> tuple[bool, str]:
    # PEP 427: archivers should put .dist-info last, so an installer reading the
    # end of the archive finds it; within each part, byte order of the names.
    return (name.split("/", 1)[0].endswith(".dist-info"), name)


def finalize(wheel: Path, info: BuildInfo, dest: Path) -> Path:
    """Write ``wheel`` with ``info`` added into the folder ``dest``; the new wheel's path."""
    with zipfile.ZipFile(wheel) as archive:
        files = {
            i.filename: (archive.read(i), bool(i.external_attr >> 16 & 0o111))
            for i in archive.infolist()
            if not i.is_dir()
        }
    dist_info = {n.split("/", 1)[0] for n in files if n.split("/", 1)[0].endswith(".dist-info")}
    if len(dist_info) != 1:
        raise UserError(f"{wheel.name}: {len(dist_info)} .dist-info folders, expected one")
    (folder,) = dist_info
    record = f"{folder}/RECORD"
    files.pop(record, None)
    files[f"{folder}/{build_info.NAME}"] = (info.to_json(), False)
    date = zip_date(info.source_date_epoch)
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / wheel.name
    staged = dest / f".{wheel.name}.partial"
    rows = []
    try:
        with zipfile.ZipFile(staged, "w") as archive:
            for name in sorted(files, key=_order):
                data, executable = files[name]
                _write(archive, name, data, executable, date)
                rows.append(f"{name},{_record_hash(data)},{len(data)}\n")
            rows.append(f"{record},,\n")
            _write(archive, record, "".join(rows).encode(), False, date)
        os.replace(staged, out)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return out


def _write(
    archive: zipfile.ZipFile,
    name: str,
    data: bytes,
    executable: bool,
    date: tuple[int, int, int, int, int, int],
) -> None:
    info = zipfile.ZipInfo(name, date_time=date)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever system writes it, so the modes below apply
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    archive.writestr(info, data)


def members(wheel: Path) -> dict[str, str]:
    """Each file member's sha256, by name."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return {
                i.filename: hashlib.sha256(archive.read(i)).hexdigest()
                for i in archive.infolist()
                if not i.is_dir()
            }
    except ZIP_ERRORS as exc:
        raise UserError(f"{wheel}: not a readable wheel (zip) file: {exc}") from None


def differences(ours: Path, theirs: Path, labels: tuple[str, str]) -> list[str]:
    """What differs between two wheels' members: ``name`` (content), ``name (only in X)``
    where X is one of ``labels``.

    Empty when every member is the same; the archives themselves may still
    differ (another zlib, another order), which the caller tells by the bytes.
    """
    mine, other = members(ours), members(theirs)
    found = [n for n in sorted(set(mine) & set(other)) if mine[n] != other[n]]
    found += [f"{n} (only in {labels[0] if n in mine else labels[1]})"
              for n in sorted(set(mine) ^ set(other))]
    return found

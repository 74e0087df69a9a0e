"""Vendor register maps (profiles): format, loader, codec, read planning.

Shared by the device simulator (serves registers) and the gateway (polls them). The
file format is documented for vendors in docs/register-maps.md.
"""

from forewarn.registers.coalesce import ReadRequest, plan_profile_reads, plan_reads
from forewarn.registers.codec import RegisterValueError, decode, encode, encode_array
from forewarn.registers.loader import (
    RegisterMapError,
    default_profiles_dir,
    load_profile,
    load_profiles,
    parse_profile,
)
from forewarn.registers.model import ASSET_CLASSES, DeviceSettings, Point, Profile
from forewarn.registers.source import Problem, SourceError

__all__ = [
    "ASSET_CLASSES",
    "DeviceSettings",
    "Point",
    "Problem",
    "Profile",
    "ReadRequest",
    "RegisterMapError",
    "RegisterValueError",
    "SourceError",
    "decode",
    "default_profiles_dir",
    "encode",
    "encode_array",
    "load_profile",
    "load_profiles",
    "parse_profile",
    "plan_profile_reads",
    "plan_reads",
]

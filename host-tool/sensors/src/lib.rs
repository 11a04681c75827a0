//! tessera-sensors

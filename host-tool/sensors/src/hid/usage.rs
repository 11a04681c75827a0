//! Names of the Power Device (0x84) and Battery System (0x85) usages, so HID paths can be written
//! the way NUT writes them (`UPS.PowerSummary.RemainingCapacity`, `UPS.Flow.[4].ConfigVoltage`).
//! Table only; a usage missing here prints as 8 hex digits, as NUT does.

const POWER_DEVICE: &[(u16, &str)] = &[
    (0x01, "iName"),
    (0x02, "PresentStatus"),
    (0x03, "ChangedStatus"),
    (0x04, "UPS"),
    (0x05, "PowerSupply"),
    (0x10, "BatterySystem"),
    (0x11, "BatterySystemID"),
    (0x12, "Battery"),
    (0x13, "BatteryID"),
    (0x14, "Charger"),
    (0x15, "ChargerID"),
    (0x16, "PowerConverter"),
    (0x17, "PowerConverterID"),
    (0x18, "OutletSystem"),
    (0x19, "OutletSystemID"),
    (0x1a, "Input"),
    (0x1b, "InputID"),
    (0x1c, "Output"),
    (0x1d, "OutputID"),
    (0x1e, "Flow"),
    (0x1f, "FlowID"),
    (0x20, "Outlet"),
    (0x21, "OutletID"),
    (0x22, "Gang"),
    (0x24, "PowerSummary"),
    (0x25, "PowerSummaryID"),
    (0x30, "Voltage"),
    (0x31, "Current"),
    (0x32, "Frequency"),
    (0x33, "ApparentPower"),
    (0x34, "ActivePower"),
    (0x35, "PercentLoad"),
    (0x36, "Temperature"),
    (0x37, "Humidity"),
    (0x38, "BadCount"),
    (0x40, "ConfigVoltage"),
    (0x41, "ConfigCurrent"),
    (0x42, "ConfigFrequency"),
    (0x43, "ConfigApparentPower"),
    (0x44, "ConfigActivePower"),
    (0x45, "ConfigPercentLoad"),
    (0x46, "ConfigTemperature"),
    (0x47, "ConfigHumidity"),
    (0x50, "SwitchOnControl"),
    (0x51, "SwitchOffControl"),
    (0x52, "ToggleControl"),
    (0x53, "LowVoltageTransfer"),
    (0x54, "HighVoltageTransfer"),
    (0x55, "DelayBeforeReboot"),
    (0x56, "DelayBeforeStartup"),
    (0x57, "DelayBeforeShutdown"),
    (0x58, "Test"),
    (0x59, "ModuleReset"),
    (0x5a, "AudibleAlarmControl"),
    (0x60, "Present"),
    (0x61, "Good"),
    (0x62, "InternalFailure"),
    (0x63, "VoltageOutOfRange"),
    (0x64, "FrequencyOutOfRange"),
    (0x65, "Overload"),
    (0x66, "OverCharged"),
    (0x67, "OverTemperature"),
    (0x68, "ShutdownRequested"),
    (0x69, "ShutdownImminent"),
    (0x6b, "SwitchOn/Off"),
    (0x6c, "Switchable"),
    (0x6d, "Used"),
    (0x6e, "Boost"),
    (0x6f, "Buck"),
    (0x70, "Initialized"),
    (0x71, "Tested"),
    (0x72, "AwaitingPower"),
    (0x73, "CommunicationLost"),
    (0xfd, "iManufacturer"),
    (0xfe, "iProduct"),
    (0xff, "iSerialNumber"),
];

const BATTERY_SYSTEM: &[(u16, &str)] = &[
    (0x01, "SMBBatteryMode"),
    (0x02, "SMBBatteryStatus"),
    (0x03, "SMBAlarmWarning"),
    (0x04, "SMBChargerMode"),
    (0x05, "SMBChargerStatus"),
    (0x29, "RemainingCapacityLimit"),
    (0x2a, "RemainingTimeLimit"),
    (0x2b, "AtRate"),
    (0x2c, "CapacityMode"),
    (0x2d, "BroadcastToCharger"),
    (0x2e, "PrimaryBattery"),
    (0x2f, "ChargeController"),
    (0x40, "TerminateCharge"),
    (0x41, "TerminateDischarge"),
    (0x42, "BelowRemainingCapacityLimit"),
    (0x43, "RemainingTimeLimitExpired"),
    (0x44, "Charging"),
    (0x45, "Discharging"),
    (0x46, "FullyCharged"),
    (0x47, "FullyDischarged"),
    (0x48, "ConditioningFlag"),
    (0x49, "AtRateOK"),
    (0x4a, "SMBErrorCode"),
    (0x4b, "NeedReplacement"),
    (0x60, "AtRateTimeToFull"),
    (0x61, "AtRateTimeToEmpty"),
    (0x62, "AverageCurrent"),
    (0x63, "MaxError"),
    (0x64, "RelativeStateOfCharge"),
    (0x65, "AbsoluteStateOfCharge"),
    (0x66, "RemainingCapacity"),
    (0x67, "FullChargeCapacity"),
    (0x68, "RunTimeToEmpty"),
    (0x69, "AverageTimeToEmpty"),
    (0x6a, "AverageTimeToFull"),
    (0x6b, "CycleCount"),
    (0x80, "BattPackModelLevel"),
    (0x81, "InternalChargeController"),
    (0x82, "PrimaryBatterySupport"),
    (0x83, "DesignCapacity"),
    (0x84, "SpecificationInfo"),
    (0x85, "ManufacturerDate"),
    (0x86, "SerialNumber"),
    (0x87, "iManufacturerName"),
    (0x88, "iDevicename"),
    (0x89, "iDeviceChemistry"),
    (0x8a, "ManufacturerData"),
    (0x8b, "Rechargeable"),
    (0x8c, "WarningCapacityLimit"),
    (0x8d, "CapacityGranularity1"),
    (0x8e, "CapacityGranularity2"),
    (0x8f, "iOEMInformation"),
    (0xc0, "InhibitCharge"),
    (0xc1, "EnablePolling"),
    (0xc2, "ResetToZero"),
    (0xd0, "ACPresent"),
    (0xd1, "BatteryPresent"),
    (0xd2, "PowerFail"),
    (0xd3, "AlarmInhibited"),
    (0xd4, "ThermistorUnderRange"),
    (0xd5, "ThermistorHot"),
    (0xd6, "ThermistorCold"),
    (0xd7, "ThermistorOverRange"),
    (0xd8, "VoltageOutOfRange"),
    (0xd9, "CurrentOutOfRange"),
    (0xda, "CurrentNotRegulated"),
    (0xdb, "VoltageNotRegulated"),
    (0xdc, "MasterMode"),
];

/// The name of one path node.
pub fn name(usage: u32) -> String {
    let page = usage >> 16;
    let id = (usage & 0xffff) as u16;
    let table = match page {
        0x84 => POWER_DEVICE,
        0x85 => BATTERY_SYSTEM,
        0xff => return format!("[{id}]"),
        _ => &[],
    };
    match table.iter().find(|(u, _)| *u == id) {
        Some((_, n)) => (*n).to_string(),
        None => format!("{usage:08x}"),
    }
}

/// A whole path, dot separated.
pub fn path(nodes: &[u32]) -> String {
    nodes.iter().map(|&u| name(u)).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_like_nut() {
        assert_eq!(
            super::path(&[0x0084_0004, 0x0084_001e, 0x00ff_0004, 0x0084_0040]),
            "UPS.Flow.[4].ConfigVoltage"
        );
        assert_eq!(
            super::path(&[0x0084_0004, 0x0084_0024, 0x0085_0066]),
            "UPS.PowerSummary.RemainingCapacity"
        );
        assert_eq!(super::name(0xffff_00f0), "ffff00f0");
    }
}

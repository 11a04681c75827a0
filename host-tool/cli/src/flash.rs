//! `tessera flash` and `tessera boards`: run the flash library's commands and print what they did.
//!
//! The work and its errors are in the tessera-flash crate; this module only prints the report on
//! stdout and turns a failure into a [`ToolError`], so flash shares the tool's exit codes
//! (a bad command line or an unknown board is a usage error, 2, as in every verb).

use tessera_flash::board;
use tessera_flash::cli::{boards_table, render, BoardsCmd, FlashCmd};

use crate::error::{Result, ToolError};

fn flash_err(error: tessera_flash::Error) -> ToolError {
    ToolError::Flash {
        verb: "tessera flash",
        error,
    }
}

pub fn run_flash(args: FlashCmd) -> Result<()> {
    let dry_run = args.dry_run;
    let report = args.execute().map_err(flash_err)?;
    print!("{}", render(&report, dry_run));
    Ok(())
}

pub fn run_boards(args: BoardsCmd) -> Result<()> {
    let boards = board::load(args.boards.as_deref()).map_err(|error| ToolError::Flash {
        verb: "tessera boards",
        error,
    })?;
    if args.json {
        let json = serde_json::to_string_pretty(&boards).map_err(ToolError::EncodeJson)?;
        println!("{json}");
    } else {
        print!("{}", boards_table(&boards));
    }
    Ok(())
}
